"""The lzt version: one place, read by the package, the classifier manifest, XMP and setuptools."""

__version__ = "0.2.0"
