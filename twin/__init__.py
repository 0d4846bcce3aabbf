"""The park twin: a digital twin of a national zero-carbon industrial park."""

from twin.core import lean_imports

__version__ = "0.1.0"

lean_imports.install()  # pandapower without matplotlib and plotly (its unused plotting)
