"""Plans and diagnostics -> text, Markdown, JSON. Pure: values in, strings out."""
