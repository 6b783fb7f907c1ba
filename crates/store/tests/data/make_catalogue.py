#!/usr/bin/env python3
"""Builds catalogue.json (the relevance suite's catalogue) from books.txt.

Each line of books.txt is `title | authors (;) | year | genres (;) | language | description`.
ISBNs are deterministic (the Hobbit keeps its real one), and the shop's own fields (publisher,
format, price, stock) are derived from the line number so that the file never changes unless
books.txt does. Run: python3 make_catalogue.py > catalogue.json
"""
import json
import sys
from pathlib import Path

PUBLISHERS = ["Penguin", "Vintage", "HarperCollins", "Gallimard", "Folio", "Suhrkamp",
              "Anagrama", "Tor", "Faber & Faber", "Bloomsbury", "O'Reilly", "Picador"]
FORMATS = ["paperback", "hardcover", "ebook", "audiobook", "paperback", "paperback"]


def isbn13(n):
    body = f"978{n:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


books = []
lines = Path(__file__).with_name("books.txt").read_text(encoding="utf-8").splitlines()
for line in lines:
    if not line.strip() or line.startswith("#"):
        continue
    title, authors, year, genres, language, description = [p.strip() for p in line.split("|")]
    i = len(books)
    year = int(year)
    books.append({
        "isbn": "9780261103344" if title == "The Hobbit" else isbn13(500_000 + i * 37),
        "title": title,
        "authors": [a.strip() for a in authors.split(";")],
        "genres": [g.strip() for g in genres.split(";")],
        "published_year": year if year > 0 else None,
        "language": language,
        "description": description,
        "publisher": PUBLISHERS[i % len(PUBLISHERS)],
        "format": FORMATS[i % len(FORMATS)],
        "price_minor": 599 + (i * 137) % 3000,
        "quantity": (i * 7) % 5,
    })
json.dump(books, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
