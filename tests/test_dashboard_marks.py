"""The AOI line's findings on the trainers' page: marked large enough to see across a room."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from twin.apps.dashboard.camera import MARK_MIN, draw_large


def test_a_small_finding_is_marked_large_and_thick() -> None:
    board = np.full((1024, 1024, 3), 40, dtype=np.uint8)  # a dark board
    tiny = SimpleNamespace(box=(500, 600, 506, 604), kind="missing")  # 6 x 4 px
    marked = draw_large(board, [tiny])
    red = (marked[..., 0] > 200) & (marked[..., 1] < 80) & (marked[..., 2] < 80)
    rows, cols = np.nonzero(red)
    assert cols.max() - cols.min() >= MARK_MIN * 1024 - 1  # a twelfth of the board and more
    assert rows.max() - rows.min() >= MARK_MIN * 1024 - 1
    edges = np.nonzero(red[602])[0]  # the box's two sides on the finding's row
    assert 500 <= (edges.min() + edges.max()) / 2 <= 506  # around the finding
    assert edges.max() - edges.min() >= MARK_MIN * 1024 - 1
    assert red[602, edges.min():edges.min() + 8].all()  # each side at least 8 px thick
    assert not red[595:610, 495:512].any()  # the finding itself left visible
    white = (marked > 200).all(-1)  # the kind written on a label at its top
    assert white[rows.min():rows.min() + 40].sum() > 100
