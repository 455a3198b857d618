"""Contract documents: the PDFs generated from the templates in ``templates/`` and their signing evidence."""
