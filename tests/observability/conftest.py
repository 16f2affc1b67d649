from tests.imports.conftest import customers

__all__ = ["customers"]
