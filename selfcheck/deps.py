"""What the self-check and the notebook need installed, and the one line that installs it."""
import importlib.util

# (module imported, package to install): everything ``check`` and the notebook import.
REQUIRED = (("torch", "torch"), ("numpy", "numpy"), ("matplotlib", "matplotlib"), ("mlxtend", "mlxtend"),
            ("safetensors", "safetensors"), ("IPython", "ipython"))
INSTALL_LINE = "python -m pip install -r requirements.txt"


def missing() -> list[str]:
    """The packages of ``REQUIRED`` that cannot be imported here, by their install names."""
    return [package for module, package in REQUIRED if importlib.util.find_spec(module) is None]


def missing_message(packages: list[str]) -> str:
    """One line naming every missing package and the install line."""
    return (f"the self-check needs {', '.join(packages)} (not installed here); from the bundle's folder run: "
            f"{INSTALL_LINE}   (or: python -m pip install {' '.join(packages)})")
