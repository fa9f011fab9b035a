"""Summaries for the street office: compiling figures into tables, then rendering them as a
chat message, an .xlsx file, charts and report paragraphs."""
