"""Reading the text files empirical potentials come in, with errors a learner can act on.

Notebooks 01 (EAM: DYNAMO funcfl, setfl and Finnis–Sinclair tables, :mod:`minnp.potentials.eam_files`)
and 02 (Tersoff: LAMMPS ``.tersoff`` entries, :mod:`minnp.potentials.tersoff`) read their
potentials through :class:`PotentialFile`. Every error names the file and the line, and says
what to do:

- a missing path, or a directory where a file was expected;
- a byte that is not UTF-8 text in a line that holds values (comment lines may hold any bytes,
  e.g. a name with an accent written in Latin-1);
- a word that is not a number, or a number that is not finite (``nan``, ``inf``): a potential
  whose table holds one gives NaN energies only at some distances, far from the cause;
- a table with too few or too many values. Values may run over lines freely, so a row with a
  value missing shifts everything after it and the count goes wrong much later; the error
  then points at the first row that is shorter than the rows before it.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np


def check_path(path, kind: str) -> pathlib.Path:
    """``path`` as a Path, or a clear error when nothing or a directory is there."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{kind} file {str(path)!r} is a directory, not a file: give the path of the "
                                "potential file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file {str(path)!r} not found: check the path (relative paths start "
                                f"from the working directory, {str(pathlib.Path.cwd())!r})")
    return path


class PotentialFile:
    """The lines of a potential file, read in order, so every error can name file and line."""

    def __init__(self, path, kind: str, comment: str = "#"):
        self.path = check_path(path, kind)
        # undecodable bytes become lone surrogates; they matter only where a line's words are read
        self.lines = self.path.read_bytes().decode("utf-8", errors="surrogateescape").splitlines()
        self.comment = comment  # what starts a comment in a line ("" when nothing does)
        self.number = 0  # lines consumed so far (1-based number of the last one)
        self.row_width = 0  # values on the first row of the first table: the file's row width
        self.short_row: tuple[int, int, int] | None = None  # first (line, values, values expected)

    def error(self, message: str, number: int | None = None) -> ValueError:
        return ValueError(f"{self.path.name}, line {self.number if number is None else number}: {message}")

    def text(self, number: int) -> str:
        """Line ``number`` as text, any undecodable byte shown as U+FFFD (for comment lines)."""
        return self.lines[number - 1].encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")

    def line_words(self, number: int) -> list[str]:
        """The words of line ``number`` before its comment, which must be UTF-8 text."""
        line = self.lines[number - 1]
        if self.comment:
            line = line.split(self.comment, 1)[0]
        bad = next((ch for ch in line if "\udc80" <= ch <= "\udcff"), None)
        if bad is not None:
            raise self.error(f"byte 0x{ord(bad) - 0xdc00:02x} is not UTF-8 text; values and element names must be "
                             "plain text: remove the character or convert the file to UTF-8 "
                             "(e.g. iconv -f latin1 -t utf-8)", number)
        return line.split()

    def skip(self, n: int) -> None:
        self.number += n
        if self.number > len(self.lines):
            raise self.error(f"file ends inside its header (it has {len(self.lines)} lines); is it a potential "
                             "file of this format?", max(len(self.lines), 1))

    def words(self, what: str) -> list[str]:
        """The next line's words that has any."""
        while self.number < len(self.lines):
            self.number += 1
            words = self.line_words(self.number)
            if words:
                return words
        raise self.error(f"file ends where {what} was expected")

    def value(self, word: str, kind: str, what: str, number: int | None = None):
        """``word`` as an 'i'nteger or a finite 'f'loat."""
        try:
            value = int(word) if kind == "i" else float(word)
        except ValueError:
            raise self.error(f"{word!r} is not {'an integer' if kind == 'i' else 'a number'} ({what})", number) from None
        if not math.isfinite(value):
            raise self.error(f"{word!r} is not a finite number ({what}): a potential must hold finite values "
                             "everywhere; fix or regenerate the file", number)
        return value

    def numbers(self, words: list[str], kinds: str, what: str) -> list:
        """The first len(kinds) words as 'i'nt or 'f'loat."""
        if len(words) < len(kinds):
            raise self.error(f"expected {len(kinds)} values ({what}), found {len(words)}: {' '.join(words)!r}")
        return [self.value(word, kind, what) for word, kind in zip(words, kinds)]

    def optional_float(self, words: list[str], k: int, default: float = 0.0) -> float:
        """Word k as a number when it is one (optional header fields), else ``default``."""
        try:
            return float(words[k])
        except (IndexError, ValueError):
            return default

    def table(self, n: int, what: str) -> np.ndarray:
        """n values that may run over several lines, as a NumPy array."""
        values: list[float] = []
        while len(values) < n:
            if self.number >= len(self.lines):
                raise self._count_error(f"file ends after {len(values)} of the {n} values of {what}")
            words = self.words(f"the values of {what}")
            self.row_width = self.row_width or len(words)
            if len(values) + len(words) > n:
                raise self._count_error(f"{len(values) + len(words) - n} values too many for {what} ({n} expected); "
                                        "check nrho and nr in the header")
            values += [self.value(word, "f", what) for word in words]
            if len(words) < self.row_width and len(values) < n and self.short_row is None:
                self.short_row = (self.number, len(words), self.row_width)
        return np.array(values)

    def _count_error(self, message: str) -> ValueError:
        """A count that came out wrong, blamed on the first short row if one came before."""
        if self.short_row is None:
            return self.error(message)
        line, found, expected = self.short_row
        return self.error(f"this row has {found} values where the rows before it have {expected}, so every "
                          f"value after it is misplaced (found at line {self.number}: {message}); "
                          "add the missing values", line)
