"""The AOI line's reject robot: a Franka Panda in PyBullet that moves flagged boards to a tray.

Scene (metres, world frame, z up): the Panda (``franka_panda/panda.urdf`` from
``pybullet_data``) stands at the origin; the conveyor is a static box along y in front of it;
the board is a thin box lying on the conveyor; two trays (``tray/traybox.urdf``, scaled) stand
beside the conveyor, one for boards to scrap and one for boards to rework. The hand goes
where the vision result says the board is (``pick_xy``, from the inspection's alignment:
:mod:`twin.models.aoi.routing`), never where the simulator put it; the vacuum cup holds
only when it lands on the board. A pick is a sequence of end-effector targets (above the board,
down, vacuum on, lift, over the tray, down, vacuum off, home) followed with inverse kinematics
every ``ik_every`` physics steps and position-controlled joints. The gripper is a vacuum cup:
a fixed constraint between the hand and the board; the fingers stay closed meanwhile (open
fingers wedge the board; REFERENCE.md).

The cycle time is measured in simulated seconds: each segment ends when the hand reaches its
target, so it follows from the arm's speed limits and the geometry, not from a constant.
Everything runs headless (``p.DIRECT``); frames come from ``p.getCameraImage`` with the
tiny (CPU) renderer as ``uint8`` arrays of shape (H, W, 3).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pybullet as p
import pybullet_data

PANDA_DOFS = 7
PANDA_EE_LINK = 11  # panda_grasptarget
PANDA_FINGERS = (9, 10)
PANDA_HOME = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, math.pi / 4)
PANDA_LOWER = (-2.9, -1.76, -2.9, -3.07, -2.9, -0.02, -2.9)
PANDA_UPPER = (2.9, 1.76, 2.9, -0.07, 2.9, 3.75, 2.9)
PANDA_RANGES = tuple(u - lo for u, lo in zip(PANDA_UPPER, PANDA_LOWER, strict=True))
DOWN = (math.pi, 0.0, 0.0)  # hand pointing down


@dataclass(frozen=True)
class RobotScene:
    """Geometry and timing of the reject cell (m, s, kg)."""

    conveyor_xy_m: tuple[float, float] = (0.55, 0.0)
    conveyor_size_m: tuple[float, float, float] = (0.25, 1.2, 0.10)  # x, y, height of top
    board_size_m: tuple[float, float, float] = (0.16, 0.10, 0.003)
    board_mass_kg: float = 0.05
    tray_xy_m: tuple[float, float] = (0.15, 0.55)  # boards to scrap
    rework_xy_m: tuple[float, float] = (0.15, -0.55)  # boards to rework
    cup_margin_m: float = 0.01  # the vacuum cup holds when its centre is this far inside
    tray_scale: float = 0.5  # traybox.urdf is 0.6 m square; 0.5 makes it 0.3 m
    hover_m: float = 0.12  # approach height above the board and the tray
    ee_speed_m_s: float = 0.9  # hand speed along a segment
    dt_s: float = 1.0 / 240.0
    ik_every: int = 4
    reach_tol_m: float = 0.01
    segment_timeout_s: float = 3.0
    settle_s: float = 0.25  # after release, before the board's place is judged

    @property
    def tray_half_m(self) -> float:
        """Half width of the tray's inner floor (m)."""
        return 0.25 * self.tray_scale


@dataclass
class RobotCycle:
    """One pick-and-place: cycle time (simulated s), frames, outcome and final board pose."""

    cycle_s: float
    success: bool
    board_xyz_m: tuple[float, float, float]
    frames: list[np.ndarray] = field(default_factory=list)
    wall_s: float = 0.0


class RejectRobot:
    """A headless PyBullet cell: Panda, conveyor, board and reject tray.

    Parameters
    ----------
    scene : RobotScene
        Geometry and timing.
    image_size : (width, height)
        Size of rendered frames (px).
    """

    def __init__(self, scene: RobotScene | None = None,
                 image_size: tuple[int, int] = (240, 180)) -> None:
        self.scene = scene or RobotScene()
        self.image_size = image_size
        self.cid = p.connect(p.DIRECT)
        self._board: int | None = None
        self._grip: int | None = None
        self._build()

    # ------------------------------------------------------------------ scene
    def _build(self) -> None:
        s, c = self.scene, self.cid
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setTimeStep(s.dt_s, physicsClientId=c)
        p.loadURDF("plane.urdf", physicsClientId=c)
        self.panda = p.loadURDF("franka_panda/panda.urdf", useFixedBase=True,
                                flags=p.URDF_USE_SELF_COLLISION, physicsClientId=c)
        cx, cy = s.conveyor_xy_m
        lx, ly, h = s.conveyor_size_m
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=(lx / 2, ly / 2, h / 2),
                                       physicsClientId=c)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=(lx / 2, ly / 2, h / 2),
                                     rgbaColor=(0.2, 0.2, 0.22, 1), physicsClientId=c)
        self.conveyor = p.createMultiBody(0, shape, visual, (cx, cy, h / 2), physicsClientId=c)
        tx, ty = s.tray_xy_m
        self.tray = p.loadURDF("tray/traybox.urdf", (tx, ty, 0.0), useFixedBase=True,
                               globalScaling=s.tray_scale, physicsClientId=c)
        rx, ry = s.rework_xy_m
        self.rework_tray = p.loadURDF("tray/traybox.urdf", (rx, ry, 0.0), useFixedBase=True,
                                      globalScaling=s.tray_scale, physicsClientId=c)
        self._home()
        self.home_xyz_m = tuple(float(v) for v in self._ee_pos())

    def _home(self) -> None:
        for j, q in enumerate(PANDA_HOME):
            p.resetJointState(self.panda, j, q, physicsClientId=self.cid)
            p.setJointMotorControl2(self.panda, j, p.POSITION_CONTROL, q, force=240,
                                    physicsClientId=self.cid)
        for j in PANDA_FINGERS:  # closed: a vacuum cup does the holding
            p.resetJointState(self.panda, j, 0.0, physicsClientId=self.cid)
            p.setJointMotorControl2(self.panda, j, p.POSITION_CONTROL, 0.0, force=20,
                                    physicsClientId=self.cid)

    def _place_board(self, board_xy: tuple[float, float]) -> None:
        s, c = self.scene, self.cid
        if self._board is not None:
            p.removeBody(self._board, physicsClientId=c)
        half = [d / 2 for d in s.board_size_m]
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half,
                                     rgbaColor=(0.05, 0.45, 0.15, 1), physicsClientId=c)
        z = s.conveyor_size_m[2] + half[2] + 1e-4
        self._board = p.createMultiBody(s.board_mass_kg, shape, visual,
                                        (board_xy[0], board_xy[1], z), physicsClientId=c)
        p.changeDynamics(self._board, -1, lateralFriction=0.8, physicsClientId=c)

    # ------------------------------------------------------------------ motion
    def _ee_pos(self) -> np.ndarray:
        state = p.getLinkState(self.panda, PANDA_EE_LINK, computeForwardKinematics=True,
                               physicsClientId=self.cid)
        return np.asarray(state[4])

    def _ik(self, target: np.ndarray) -> None:
        q = p.calculateInverseKinematics(
            self.panda, PANDA_EE_LINK, target.tolist(), p.getQuaternionFromEuler(DOWN),
            lowerLimits=PANDA_LOWER, upperLimits=PANDA_UPPER, jointRanges=PANDA_RANGES,
            restPoses=PANDA_HOME, maxNumIterations=20, physicsClientId=self.cid)
        p.setJointMotorControlArray(self.panda, list(range(PANDA_DOFS)), p.POSITION_CONTROL,
                                    targetPositions=q[:PANDA_DOFS], forces=[240] * PANDA_DOFS,
                                    physicsClientId=self.cid)

    def _move(self, goal: tuple[float, float, float], run: _Run) -> None:
        """Drive the hand to ``goal`` along a straight line at the scene's hand speed."""
        s = self.scene
        start = self._ee_pos()
        goal_v = np.asarray(goal, dtype=float)
        length = float(np.linalg.norm(goal_v - start))
        travel_s = length / s.ee_speed_m_s
        t0 = run.t_s
        while True:
            frac = min((run.t_s - t0) / travel_s, 1.0) if travel_s > 0 else 1.0
            if run.steps % s.ik_every == 0:
                self._ik(start + frac * (goal_v - start))
            run.step()
            done = frac >= 1.0 and np.linalg.norm(self._ee_pos() - goal_v) < s.reach_tol_m
            if done or run.t_s - t0 > travel_s + s.segment_timeout_s:
                return

    def _hold(self, seconds: float, run: _Run) -> None:
        for _ in range(max(1, round(seconds / self.scene.dt_s))):
            run.step()

    def _grip_on(self) -> None:
        """Vacuum on: the cup holds the board when it sits on it (inside its outline less
        ``cup_margin_m``), else it sucks air."""
        c = self.cid
        hand = p.getLinkState(self.panda, PANDA_EE_LINK, computeForwardKinematics=True,
                              physicsClientId=c)
        pos, orn = p.getBasePositionAndOrientation(self._board, physicsClientId=c)
        inv_b = p.invertTransform(pos, orn)
        local = p.multiplyTransforms(inv_b[0], inv_b[1], hand[4], (0, 0, 0, 1))[0]
        half = [d / 2 - self.scene.cup_margin_m for d in self.scene.board_size_m[:2]]
        if abs(local[0]) > half[0] or abs(local[1]) > half[1]:
            return
        inv_pos, inv_orn = p.invertTransform(hand[4], hand[5])
        rel_pos, rel_orn = p.multiplyTransforms(inv_pos, inv_orn, pos, orn)
        self._grip = p.createConstraint(self.panda, PANDA_EE_LINK, self._board, -1,
                                        p.JOINT_FIXED, (0, 0, 0), rel_pos, (0, 0, 0), rel_orn,
                                        physicsClientId=c)
        p.changeConstraint(self._grip, maxForce=50, physicsClientId=c)

    def _grip_off(self) -> None:
        if self._grip is not None:
            p.removeConstraint(self._grip, physicsClientId=self.cid)
            self._grip = None

    # ------------------------------------------------------------------ public
    def pick_and_place(self, board_xy: tuple[float, float] | None = None,
                       render_every: int = 0, pick_xy: tuple[float, float] | None = None,
                       tray: str = "scrap") -> RobotCycle:
        """Move a board lying at ``board_xy`` on the conveyor into a tray; return the cycle.

        ``board_xy`` (where the board really is) defaults to the conveyor's centre;
        ``pick_xy`` is where the vision result says it is (default: ``board_xy``): the hand
        goes there, and the pick fails when the cup misses the board; ``tray``: ``scrap``
        or ``rework``; ``render_every`` > 0 renders a frame every that many physics steps.
        """
        if tray not in ("scrap", "rework"):
            raise ValueError(f"tray: expected scrap or rework, got {tray!r}")
        wall0 = time.perf_counter()
        s = self.scene
        self._home()
        self._place_board(board_xy or s.conveyor_xy_m)
        run = _Run(self, render_every)
        self._hold(0.05, run)  # the board settles on the belt
        bx, by = pick_xy or board_xy or s.conveyor_xy_m
        top = s.conveyor_size_m[2] + s.board_size_m[2]
        tx, ty = s.tray_xy_m if tray == "scrap" else s.rework_xy_m
        drop_z = 0.02 + 0.06 * s.tray_scale + s.board_size_m[2]
        self._move((bx, by, top + s.hover_m), run)
        self._move((bx, by, top + 0.002), run)
        self._grip_on()
        self._move((bx, by, top + s.hover_m), run)
        self._move((tx, ty, drop_z + s.hover_m), run)
        self._move((tx, ty, drop_z + 0.01), run)
        self._grip_off()
        self._move((tx, ty, drop_z + s.hover_m), run)
        self._move(self.home_xyz_m, run)
        cycle_s = run.t_s
        self._hold(s.settle_s, run)
        pos = p.getBasePositionAndOrientation(self._board, physicsClientId=self.cid)[0]
        return RobotCycle(cycle_s=cycle_s, success=self.in_tray(pos, tray), board_xyz_m=tuple(pos),
                          frames=run.frames, wall_s=time.perf_counter() - wall0)

    def in_tray(self, xyz: tuple[float, float, float], tray: str = "scrap") -> bool:
        """Whether a point lies within a tray's inner floor and below its rim."""
        s = self.scene
        tx, ty = s.tray_xy_m if tray == "scrap" else s.rework_xy_m
        half = s.tray_half_m
        return (abs(xyz[0] - tx) < half and abs(xyz[1] - ty) < half
                and xyz[2] < 0.15 * s.tray_scale + 0.02)

    def render(self) -> np.ndarray:
        """A frame of the cell, ``uint8`` (H, W, 3), from the tiny (CPU) renderer."""
        w, h = self.image_size
        view = p.computeViewMatrix(cameraEyePosition=(1.35, -0.9, 1.0),
                                   cameraTargetPosition=(0.35, 0.2, 0.1),
                                   cameraUpVector=(0, 0, 1), physicsClientId=self.cid)
        proj = p.computeProjectionMatrixFOV(fov=55, aspect=w / h, nearVal=0.05, farVal=5.0,
                                            physicsClientId=self.cid)
        img = p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER,
                               physicsClientId=self.cid)
        rgba = np.reshape(np.asarray(img[2], dtype=np.uint8), (h, w, 4))
        return np.ascontiguousarray(rgba[:, :, :3])

    def close(self) -> None:
        """Disconnect the physics client."""
        if self.cid is not None and p.isConnected(self.cid):
            p.disconnect(self.cid)

    def __enter__(self) -> RejectRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Run:
    """Simulated time, step count and frames of one cycle."""

    def __init__(self, robot: RejectRobot, render_every: int) -> None:
        self.robot = robot
        self.render_every = render_every
        self.steps = 0
        self.t_s = 0.0
        self.frames: list[np.ndarray] = []

    def step(self) -> None:
        p.stepSimulation(physicsClientId=self.robot.cid)
        self.steps += 1
        self.t_s += self.robot.scene.dt_s
        if self.render_every and self.steps % self.render_every == 0:
            self.frames.append(self.robot.render())


def measure_cycles(n: int, seed: int = 0, scene: RobotScene | None = None,
                   spread_m: float = 0.05) -> list[RobotCycle]:
    """Run ``n`` picks with boards scattered by up to ``spread_m`` along the belt."""
    rng = np.random.default_rng(seed)
    with RejectRobot(scene) as robot:
        cx, cy = robot.scene.conveyor_xy_m
        return [robot.pick_and_place((cx + rng.uniform(-0.02, 0.02),
                                      cy + rng.uniform(-spread_m, spread_m)))
                for _ in range(n)]
