# English: day, short month name, year ("1 Dec 2026"), the form Xero's invoices and the
# GOV.UK style guide's tables use: no day/month order to guess between US and other readers
# (is 12/01 the 1st of December or the 12th of January?), short enough for a table column.
# Times on the 24-hour clock ("07:41"): no "a.m." to translate or to wrap.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
