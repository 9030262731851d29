"""Command and option parsing with the behaviour of OpenNebula's Ruby ``CmdParser``.

What callers (people and the Salt modules) can observe is kept:

* the first arguments that do not start with ``-`` name the command; an unknown command
  prints the help and exits 0;
* options may appear anywhere (Ruby ``OptionParser#parse!`` permutes), long options may be
  abbreviated word by word and in any case (``--cs-d``, ``--ENDPOINT``; ``_`` reads as
  ``-``), ``--opt=value`` and ``-nVALUE`` work; errors are ``invalid option: -z``,
  ``missing argument: --name``, ``ambiguous option: --e``, ``needless argument: --xml=1``
  on stderr with exit 255, an unknown or ambiguous name followed by DidYouMean's
  ``Did you mean?  json`` when it finds a close long name; ``-h`` and ``-V`` act where they
  appear;
* a short option letter that is no short option completes to the only long option starting
  with it (``-e URL`` is ``--endpoint URL``; ``ambiguous option: -e`` when several do);
* option values go through Ruby OptionParser's acceptors (optparse 0.2, Ruby 3.1): a
  ``String`` value must not be empty, an ``Integer`` must look like one (``invalid argument:
  --user `` -- the option and the refused value joined by a space), an ``Array`` is split on
  commas; an option whose argument is written ``[...]`` (``--expand [x=prop,y=prop]``) takes
  the next word only when it does not start with ``-``;
* after the options the *before* hook runs (the CLIs build their XML-RPC client there);
* then the argument count is checked (``Command show requires one parameter to run`` +
  the command help, or ``Wrong number of arguments``) and every argument is converted by
  its format (zone names to IDs, ...), a failed conversion printing its message;
* the action returns an exit code, or ``(code, text)``: text to stdout when the code is 0,
  to stderr otherwise; a :class:`CliError` prints its message to stderr and exits 255.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import did_you_mean

__all__ = [
    "ARRAY",
    "INTEGER",
    "STRING",
    "ArgFormat",
    "CliError",
    "CmdParser",
    "Command",
    "Invocation",
    "Option",
    "exit_status",
    "puts",
]


class CliError(Exception):
    """Print ``message`` to stderr and exit with ``code`` (default -1, i.e. 255)."""

    def __init__(self, message: str, code: int = -1):
        super().__init__(message)
        self.message = message
        self.code = code


class _Exit(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


#: Value acceptors of Ruby's OptionParser used by the OpenNebula CLIs.
STRING, INTEGER, ARRAY = "String", "Integer", "Array"
_RUBY_INTEGER = re.compile(
    r"\A[-+]?(?:0(?:[0-7]+(?:_[0-7]+)*|b[01]+(?:_[01]+)*|x[\da-f]+(?:_[\da-f]+)*)?"
    r"|\d+(?:_\d+)*)\Z",
    re.IGNORECASE,
)


def ruby_split_commas(value: str) -> list[str | None]:
    """``value.split(',').collect {|s| s unless s.empty?}`` (trailing empty fields dropped)."""
    parts = value.split(",")
    while parts and parts[-1] == "":
        parts.pop()
    return [part if part else None for part in parts]


@dataclass(frozen=True)
class Option:
    """One option. ``metavar`` set means it takes an argument (``--user name``) accepted by
    ``format``; a metavar written ``[...]`` makes the argument optional."""

    name: str
    long: str
    short: str | None = None
    metavar: str | None = None
    description: str = ""
    #: Whether the help shows the metavar after the long form (Ruby's ``:large`` text);
    #: ``None``: only when there is no short form.
    long_metavar: bool | None = None
    #: The OptionParser acceptor of the value: STRING, INTEGER or ARRAY.
    format: str = STRING

    @property
    def optional_value(self) -> bool:
        """``--expand [x=prop,y=prop]``: Ruby's PlacedArgument style."""
        return bool(self.metavar) and self.metavar.startswith("[")

    @property
    def label(self) -> str:
        """The text shown in the help: ``-n, --name`` / ``--user name``."""
        text = f"{self.short}, " if self.short else ""
        shows = self.long_metavar if self.long_metavar is not None else not self.short
        return text + self.long + (f" {self.metavar}" if self.metavar and shows else "")


@dataclass(frozen=True)
class ArgFormat:
    """An argument format: ``convert(arg, invocation)`` returns ``(0, value)`` or
    ``(-1, message_or_None)``."""

    name: str
    description: str
    convert: Callable[[str, Invocation], tuple[int, object]]


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    #: One tuple of format names per positional argument; ``None`` in a tuple = optional.
    args: tuple[tuple[str | None, ...], ...] = ()
    options: tuple[Option, ...] = ()
    action: Callable[[Invocation], object] | None = None

    @property
    def arity(self) -> int:
        return sum(1 for formats in self.args if None not in formats)

    @property
    def sorted_options(self) -> list[Option]:
        return sorted(self.options, key=lambda o: o.name)


@dataclass
class Invocation:
    """What an action gets: the converted arguments, the options and a scratch space."""

    command: Command
    args: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    #: Option names in the order they were given (Ruby runs option procs in that order).
    seen: list[str] = field(default_factory=list)


def puts(text: object = None, stream=None) -> None:
    """Ruby ``puts``: the text plus a newline unless it already ends with one."""
    stream = sys.stdout if stream is None else stream
    text = "" if text is None else str(text)
    stream.write(text if text.endswith("\n") else text + "\n")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def exit_status(code: int) -> int:
    """Map a Ruby exit code (``exit(-1)``) to the status the shell sees (255)."""
    return code & 0xFF


def _word_wrap(size: int, text: str, first_size: int) -> list[str]:
    output, line, line_size = [], "", first_size
    for word in text.split():
        if len(line) + len(word) + 1 <= line_size:
            line += f" {word}"
        else:
            output.append(line)
            line, line_size = word, size
    output.append(line)
    output[0] = output[0].strip()
    return output


class CmdParser:
    """A command-line program made of commands, global options and argument formats."""

    def __init__(
        self,
        *,
        usage: str | None,
        version: str | None,
        description: str | None,
        options: Sequence[Option],
        formats: Sequence[ArgFormat],
        commands: Sequence[Command],
        before: Callable[[Invocation], None] | None = None,
    ):
        self.usage = usage
        self.version = version
        self.description = description
        self.options = list(options)
        self.formats = {f.name: f for f in formats}
        self.commands = {c.name: c for c in commands}
        self.before = before
        self.out = sys.stdout
        self.err = sys.stderr

    # -- entry point --------------------------------------------------------------------
    def run(self, argv: Sequence[str]) -> int:
        """Run the program; return the shell exit status (0..255)."""
        try:
            return exit_status(self._run(list(argv)))
        except _Exit as done:
            return exit_status(done.code)
        except CliError as error:
            self.err.write(error.message.rstrip("\n") + "\n")
            return exit_status(error.code)
        except BrokenPipeError:  # `onezone list | head`: Ruby traps SIGPIPE and exits
            _silence_stdout()
            return 0

    def _run(self, args: list[str]) -> int:
        command, name = None, None
        if args and not args[0].startswith("-"):
            while command is None and args:
                current = args.pop(0)
                name = current if name is None else f"{name} {current}"
                command = self.commands.get(name)
        if command is None:
            self._print_help(name)
            return 0
        invocation = Invocation(command)
        invocation.args = self._parse_options(args, command, invocation)
        if self.before is not None:
            self.before(invocation)
        self._convert_args(invocation)
        return self._finish(command.action(invocation))

    def _finish(self, result) -> int:
        if isinstance(result, tuple):
            code, text = result
            if code != 0:
                self.err.write(str(text).rstrip("\n") + "\n" if text is not None else "\n")
            else:
                puts(text, self.out)
            return code
        return 0 if result is None else int(result)

    # -- options ------------------------------------------------------------------------
    def _all_options(self, command: Command) -> list[Option]:
        """Global options, then the command's sorted by name (CmdParser sorts an option list)."""
        return [*self.options, *command.sorted_options]

    @staticmethod
    def _completions(key: str, options: list[Option], icase: bool) -> list[Option]:
        """``OptionParser::Completion#complete``: each word of ``key`` may be abbreviated
        (``--cs-d`` is ``--csv-del``); when several names match, a name that is a prefix of
        all the others wins (``--cs`` is ``--csv``), otherwise it is ambiguous (several)."""
        pattern = re.compile(
            r"\A" + re.sub(r"\w+\b", lambda m: m.group(0) + r"\w*", re.escape(key), flags=re.A),
            (re.IGNORECASE if icase else 0) | re.ASCII,
        )
        matches = sorted(
            (o for o in options if pattern.match(o.long[2:])), key=lambda o: len(o.long)
        )
        if len(matches) <= 1:
            return matches
        chosen = matches[0]
        for other in matches[1:]:
            if other is chosen:
                continue
            if chosen.long.startswith(other.long):
                chosen = other
            elif not other.long.startswith(chosen.long):
                return matches  # ambiguous
        return [chosen]

    @staticmethod
    def _hint(key: str, options: list[Option]) -> str:
        """DidYouMean's suggestion among every long name optparse knows: the options in the
        order they were declared, then its own ``help``, completion and ``version``."""
        names = [o.long[2:] for o in options]
        names += ["help", "*-completion-bash", "*-completion-zsh", "version", ""]
        return did_you_mean.message_for(key, names)

    def _complete_long(self, name: str, options: list[Option], shown: str) -> Option:
        name = name.replace("_", "-")  # optparse: opt.tr!('_', '-')
        exact = [o for o in options if o.long == f"--{name}"]
        if exact:
            return exact[0]
        candidates = self._completions(name, options, icase=True)
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise CliError(f"ambiguous option: {shown}{self._hint(name, options)}")
        raise CliError(f"invalid option: {shown}{self._hint(name, options)}")

    def _parse_options(
        self, args: list[str], command: Command, invocation: Invocation
    ) -> list[str]:
        options = self._all_options(command)
        shorts = {o.short: o for o in options if o.short}
        positionals: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                positionals.extend(args[i:])
                break
            if arg.startswith("--"):
                name, eq, value = arg[2:].partition("=")
                option = self._complete_long(name, options, arg)
                if option.optional_value:
                    if not eq:
                        if i < len(args) and not args[i].startswith("-"):
                            value = args[i]
                            i += 1
                        else:
                            value = None  # given without a value
                    value = self._accept(option, value, arg if eq else f"{arg} {value}")
                elif option.metavar:
                    if not eq:
                        if i >= len(args):
                            raise CliError(f"missing argument: {arg}")
                        value = args[i]
                        i += 1
                    value = self._accept(option, value, arg if eq else f"{arg} {value}")
                elif eq:
                    raise CliError(f"needless argument: {arg}")
                else:
                    value = True
                self._apply(option, value, invocation)
            elif arg.startswith("-") and len(arg) > 1:
                j = 1
                while j < len(arg):
                    option = shorts.get("-" + arg[j])
                    if option is None:
                        # optparse then completes the letter against the long options:
                        # "-e URL" is --endpoint where that is the only one starting with e.
                        shown = arg if j == 1 else "-" + arg[j:]
                        matches = self._completions(arg[j], options, icase=False)
                        hint = self._hint(arg[j], options) if len(matches) != 1 else ""
                        if len(matches) > 1:
                            raise CliError(f"ambiguous option: {shown}{hint}")
                        if not matches:
                            raise CliError(f"invalid option: {shown}{hint}")
                        option = matches[0]
                    if option.metavar:
                        token = arg if j == 1 else "-" + arg[j:]
                        value = arg[j + 1 :]
                        shown = token
                        if not value:
                            if option.optional_value and (
                                i >= len(args) or args[i].startswith("-")
                            ):
                                self._apply(option, None, invocation)
                                break
                            if i >= len(args):
                                raise CliError(f"missing argument: -{arg[j]}")
                            value = args[i]
                            i += 1
                            shown = f"{token} {value}"
                        self._apply(option, self._accept(option, value, shown), invocation)
                        break
                    self._apply(option, True, invocation)
                    j += 1
            else:
                positionals.append(arg)
        return positionals

    @staticmethod
    def _accept(option: Option, value: str | None, shown: str):
        """Ruby's acceptor for the option's format; ``shown`` is what the error names."""
        if value is None:
            return None
        if option.format == ARRAY:
            return ruby_split_commas(value)
        if option.format == INTEGER:
            if not _RUBY_INTEGER.search(value):
                raise CliError(f"invalid argument: {shown}")
            return (
                int(value.replace("_", ""), 0)
                if not re.fullmatch(r"[-+]?0\d+", value)
                else (int(value.replace("_", ""), 8))
            )
        if value == "":  # String: /.+/m
            raise CliError(f"invalid argument: {shown}")
        return value

    def _apply(self, option: Option, value, invocation: Invocation) -> None:
        if option.name == "help":
            self._print_command_help(invocation.command.name)
            raise _Exit(0)
        if option.name == "version":
            puts(self.version, self.out)
            raise _Exit(0)
        invocation.options[option.name] = value
        invocation.seen.append(option.name)

    # -- arguments ----------------------------------------------------------------------
    def _convert_args(self, invocation: Invocation) -> None:
        command = invocation.command
        raw = invocation.args
        if len(raw) < command.arity:
            if command.arity > 1:
                self.err.write(
                    f"Command {command.name} requires {len(command.args)} parameters to run.\n"
                )
            else:
                self.err.write(f"Command {command.name} requires one parameter to run\n")
            self._print_command_help(command.name)
            raise _Exit(-1)
        converted = []
        for index, arg in enumerate(raw):
            if index >= len(command.args):
                shown = " ".join(
                    f"[{'|'.join(f for f in formats if f)}]"
                    if None in formats
                    else f"<{'|'.join(formats)}>"
                    for formats in command.args
                )
                self.err.write("Wrong number of arguments\n")
                if shown:
                    self.err.write(f"The arguments should be: {shown}\n")
                else:
                    self.err.write("No argument is required\n")
                raise _Exit(-1)
            value, error, found = None, None, False
            for format_name in command.args[index]:
                if format_name is None:
                    break
                fmt = self.formats.get(format_name) or self.formats["text"]
                code, result = fmt.convert(arg, invocation)
                if code == 0:
                    value, found = result, True
                    break
                error = result
            if not found:
                if error:
                    self.err.write(f"{error}\n")
                else:
                    names = ", ".join(str(f) for f in command.args[index])
                    self.err.write(
                        f"command {command.name}: argument {index} must be one of {names}\n"
                    )
                raise _Exit(-1)
            converted.append(value)
        invocation.args = converted

    # -- help ---------------------------------------------------------------------------
    def _print_option(self, option: Option) -> None:
        params = "     " + f"{option.label:<25}"
        first_line = 80 - len(params)
        description = ("\n" + " " * 31).join(_word_wrap(80 - 32, option.description, first_line))
        self.out.write(f"{params} {description}\n")

    def _print_command(self, command: Command) -> None:
        shown = " ".join(
            f"[<{'|'.join(f for f in formats if f)}>]"
            if None in formats
            else f"<{'|'.join(formats)}>"
            for formats in command.args
        )
        self.out.write(shown + "\n")
        for line in command.description.split("\n"):
            self.out.write(" " * 8 + line + "\n")
        if command.options:
            names = ", ".join(o.name for o in command.sorted_options)
            self.out.write(" " * 8 + f"valid options: {names}\n")
        self.out.write("\n")

    def _print_command_help(self, name: str) -> None:
        command = self.commands.get(name)
        if command is None:
            self.err.write(f"Command '{name}' not found\n")
            self._print_all_help()
            return
        self.out.write("## USAGE\n")
        self.out.write(f"{name} ")
        self._print_command(command)
        self.out.write("## OPTIONS\n")
        for option in command.sorted_options:
            self._print_option(option)
        for option in self.options:
            self._print_option(option)

    def _print_help(self, name: str | None) -> None:
        if name is not None:
            self._print_command_help(name)
        else:
            self._print_all_help()

    def _print_all_help(self) -> None:
        w = self.out.write
        if self.usage:
            w(f"## SYNOPSIS\n\n{self.usage}\n\n")
        if self.description:
            w(self.description if self.description.endswith("\n") else self.description + "\n")
        w("\n## OPTIONS\n")
        seen, options = set(), []
        for command in self.commands.values():
            for option in command.sorted_options:
                if option.name not in seen:
                    seen.add(option.name)
                    options.append(option)
        options.extend(self.options)
        for option in sorted(options, key=lambda o: o.name):
            self._print_option(option)
        w("\n## COMMANDS\n")
        for name in sorted(self.commands):
            w(f"   * {name} ")
            self._print_command(self.commands[name])
        w("\n## ARGUMENT FORMATS\n")
        for key in sorted(self.formats):
            w(f"   * {key}\n")
            for line in self.formats[key].description.split("\n"):
                w(" " * 8 + line + "\n")
            w("\n")
        w("\n")
        if self.version:
            w("## VERSION\n")
            puts(self.version, self.out)
