"""The dashboard: server-rendered pages with SVG charts, and journey report."""
