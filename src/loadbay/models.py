"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic)."""


def load_all() -> None:
    from loadbay.destinations import models as _destinations  # noqa: F401
    from loadbay.idempotency import models as _idempotency  # noqa: F401
    from loadbay.imports import models as _imports  # noqa: F401
    from loadbay.jobs import models as _jobs  # noqa: F401
    from loadbay.schemas import models as _schemas  # noqa: F401
    from loadbay.schemas.mapping import models as _mapping  # noqa: F401
    from loadbay.security import models as _security  # noqa: F401
    from loadbay.sources import models as _sources  # noqa: F401
    from loadbay.uploads import models as _uploads  # noqa: F401
    from loadbay.webhooks import models as _webhooks  # noqa: F401
