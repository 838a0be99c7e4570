"""Foundation benchmark (issue 2): `check` and direct `convert` of 200,000 rows, CSV and XLSX.

Each measured command runs in its own process (end to end, as a user runs it); peak memory is that
process's maximum resident set size. The baseline, run the same way, reads the same file with the same
reader and writes the same number of rows and cells with xlsxwriter: no validation, no database.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter

BASELINE = r"""
import csv, sys, time
from pathlib import Path
import xlsxwriter
from python_calamine import CalamineWorkbook
src, dst, cells = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
wb = xlsxwriter.Workbook(dst, {"constant_memory": True})
ws = wb.add_worksheet("Results")
def rows():
    if src.suffix == ".csv":
        with src.open(encoding="utf-8", newline="") as f:
            yield from csv.reader(f, delimiter=";")
    else:
        book = CalamineWorkbook.from_path(str(src))
        yield from book.get_sheet_by_name(book.sheet_names[0]).iter_rows()
for r, row in enumerate(rows()):
    values = [str(v) for v in row]
    for c in range(cells):
        ws.write_string(r, c, values[c % len(values)])
wb.close()
"""


def _ean13(rng: random.Random) -> str:
    body = "3" + "".join(rng.choice("0123456789") for _ in range(11))
    total = sum((3 if i % 2 == 0 else 1) * int(d) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))


def make_files(folder: Path, rows: int) -> tuple[Path, Path]:
    rng = random.Random(42)
    data = []
    for n in range(rows):
        code = _ean13(rng)
        if n % 50 == 0:
            code = code[:-1] + str((int(code[-1]) + 1) % 10)  # 2 % wrong check digits
        data.append(
            (code, _asin(rng), f"Produit {n} 400 g", f"{rng.randint(100, 9999) / 100:.2f}".replace(".", ","))
        )
    csv_path = folder / "supplier_200k.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        f.write("EAN;ASIN;Désignation;Prix\n")
        for row in data:
            f.write(";".join(row) + "\n")
    xlsx_path = folder / "supplier_200k.xlsx"
    wb = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
    ws = wb.add_worksheet("Produits")
    ws.write_row(0, 0, ["EAN", "ASIN", "Désignation", "Prix"])
    for r, (code, asin, title, price) in enumerate(data, start=1):
        ws.write_string(r, 0, code)
        ws.write_string(r, 1, asin)
        ws.write_string(r, 2, title)
        ws.write_number(r, 3, float(price.replace(",", ".")))
    wb.close()
    return csv_path, xlsx_path


def measure(cmd: list[str], env_dir: Path) -> tuple[float, float]:
    """Time ``cmd`` and read its own peak memory through a small wrapper process."""
    wrapper = (
        "import resource,subprocess,sys,time;"
        "t=time.perf_counter();r=subprocess.run(sys.argv[1:]);d=time.perf_counter()-t;"
        "print(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r.returncode)"
    )
    import os

    env = dict(os.environ, CODE2ASIN_DATA_DIR=str(env_dir))
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    seconds, rss_kb = proc.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks foundation")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    code2asin = [sys.executable, "-m", "code2asin"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        csv_path, xlsx_path = make_files(folder, args.rows)
        print(f"generated {args.rows:,} rows as CSV and XLSX in {time.perf_counter() - t:.1f} s")
        cells = 24 + 4  # the results contract's columns plus the input's own
        print(f"{'measure':<34}{'seconds':>9}{'codes/s':>11}{'peak MB':>9}{'vs baseline':>13}")
        for src in (csv_path, xlsx_path):
            kind = src.suffix[1:].upper()
            base_s, base_mb = measure(
                [sys.executable, "-c", BASELINE, str(src), str(folder / "b.xlsx"), str(cells // 2)],
                folder / "d0",
            )
            print(
                f"{'baseline read+xlsxwriter ' + kind:<34}{base_s:>9.2f}{args.rows / base_s:>11,.0f}"
                f"{base_mb:>9.0f}{1.0:>12.2f}x"
            )
            for label, cmd in (
                (f"check {kind}", [*code2asin, "check", str(src)]),
                (
                    f"check {kind} -o report.xlsx",
                    [*code2asin, "check", str(src), "-o", str(folder / "r.xlsx")],
                ),
                (
                    f"convert --mode direct {kind}",
                    [*code2asin, "convert", str(src), "--mode", "direct", "-o", str(folder / "c.xlsx")],
                ),
            ):
                secs, mb = measure(cmd, folder / f"d-{kind}-{label.split()[0]}")
                print(f"{label:<34}{secs:>9.2f}{args.rows / secs:>11,.0f}{mb:>9.0f}{secs / base_s:>12.2f}x")
