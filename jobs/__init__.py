"""The schedule only (``flask --app wsgi scheduler``): it calls reminder and mail operations."""
