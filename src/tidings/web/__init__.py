"""Server-rendered pages: the user's (`/app/`), the console (`/console/`) and `/verify`.

Pages are one more face of the service, like `api/` and `cli/`: they call the domains'
services; no domain imports them. `tidings.web.mount.mount_pages` wires them into the app.
"""
