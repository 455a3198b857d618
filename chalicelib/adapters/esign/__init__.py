"""Electronic-signature adapters: DocuSign, and the Connect webhook format shared with the built-in signature."""
