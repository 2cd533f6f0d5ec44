"""CSV and XLSX files of an analytics table: the same rows as the page."""

import csv
import io

from django.utils.translation import gettext_lazy as _

from protokol.analytics.measures import COLUMNS, exported_key

COLUMN_LABELS = {
    "total": _("Всего"),
    "closed": _("Закрыто"),
    "processing_n": _("С ответом"),
    "processing_median_s": _("Обработка, медиана, с"),
    "processing_p90_s": _("Обработка, 90-й процентиль, с"),
    "first_response_n": _("С первым ответом"),
    "first_response_median_s": _("Первый ответ, медиана, с"),
    "first_response_p90_s": _("Первый ответ, 90-й процентиль, с"),
    "deadline_known": _("Ответ со сроком"),
    "deadline_met": _("Ответ в срок"),
    "deadline_share": _("Доля в срок"),
    "overdue_open": _("Просрочено без ответа"),
    "returns": _("Возвраты на доработку"),
    "returned": _("Консультации с возвратом"),
    "disputed": _("Оспорено"),
    "dispute_concluded": _("Спор завершён заключением"),
    "dispute_reopened": _("Спор: новый ответ"),
    "dispute_open": _("Спор открыт"),
    "repeats": _("Повторные обращения"),
    "repeat_share": _("Доля повторных"),
    "closed_first": _("Закрыто с первого ответа"),
    "closed_first_share": _("Доля закрытых с первого ответа"),
    "satisfied": _("Гражданин удовлетворён"),
    "satisfied_share": _("Доля удовлетворённых"),
    "processing_expected_s": _("Обработка, ожидаемая медиана по услугам, с"),
    "processing_index": _("Индекс обработки с учётом услуг"),
    "first_response_expected_s": _("Первый ответ, ожидаемая медиана по услугам, с"),
    "first_response_index": _("Индекс первого ответа с учётом услуг"),
}
COMPARISON_COLUMNS = COLUMNS + (
    "processing_expected_s",
    "processing_index",
    "first_response_expected_s",
    "first_response_index",
)


def table(rows: list[dict], group_title: str, columns=COLUMNS) -> list[list]:
    """Return the header and the rows as lists of cells: key, name, then columns."""
    header = [str(_("Код")), str(group_title)]
    header += [str(COLUMN_LABELS[c]) for c in columns]
    lines = [header]
    for row in rows:
        key = exported_key(row["key"])
        lines.append([key, row["label"], *(row[c] for c in columns)])
    return lines


def to_csv(lines: list[list]) -> bytes:
    """Return the table as UTF-8 CSV with a byte order mark, which Excel expects.

    Dates are written as YYYY-MM-DD.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in lines:
        writer.writerow(["" if cell is None else _cell(cell) for cell in line])
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(lines: list[list], sheet_title: str) -> bytes:
    """Return the table as an XLSX workbook of one sheet, dates as date cells."""
    # Importing openpyxl 3.1 added 12.6 MiB to a server process's RSS, so
    # only an export imports it.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    for line in lines:
        sheet.append([_cell(cell) for cell in line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Decimal places of numbers in the files. Medians interpolated in floating
# point end in noise such as 2449989.200000001, which the pages round away.
EXPORT_DECIMALS = 6


def _cell(value):
    # Text that starts like a formula is stored as text, never evaluated.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    if isinstance(value, float):
        return round(value, EXPORT_DECIMALS)
    return value
