"""InvestIQ ML: the command line (`investiq`) and the settings shared by training, export and gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("investiq-ml")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
