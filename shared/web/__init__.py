"""Pieces the services' HTML pages share: i18n, page access, sign-in, SVG charts, CSS."""
