"""The command language: split a line into words, match it against the command table.

One command a line; words split as a shell splits them (quotes group words, `#` at the start
of a word begins a comment). Backslashes are ordinary characters, because NT paths are full
of them. Errors carry the 1-based column of the word at fault.
"""

from kmshell.language.lexer import Word, split_words
from kmshell.language.parser import Command, parse_words
from kmshell.language.spec import Arg, CommandSpec, CommandTable, Kind, Opt

__all__ = ["Arg", "Command", "CommandSpec", "CommandTable", "Kind", "Opt", "Word",
           "parse_words", "split_words"]
