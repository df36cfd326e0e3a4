"""The portal's date formats (FORMAT_MODULE_PATH): one date and one date-time format per
language, used by pages, PDFs and emails alike; templates name them (DATE_FORMAT,
DATETIME_FORMAT) and never spell a format of their own. CSV files keep ISO 8601.

The short formats are the long ones, so that nothing (the admin, a template that asks for
SHORT_DATE_FORMAT) prints a second style: English "12/01/2026" reads as 12 January in most
of the world, which a billing document must not leave open."""
