"""The operator console (`/console/`): delivery health, a notification's attempts, message
templates, users and jobs. Operators see personal data masked only; every page needs the
operator's session (signed out: the sign-in form) and every form its CSRF token."""
