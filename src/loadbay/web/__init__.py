"""The page: TypeScript sources here (Vite builds them into ``dist/``), served by ``serve``."""
