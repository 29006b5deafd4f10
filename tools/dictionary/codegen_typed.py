"""Typed structs for codegen.py: grouped AVPs and defined commands.

Reads   grouped_classes.tsv, grouped.tsv, grouped_aliases.tsv,
        defined_commands.tsv, command_fields.tsv, command_orphans.tsv
        (written by export.py) and fixes.tsv (hand-written)
Returns the Rust files of src/message/grouped/generated/ and
        src/message/commands/generated/: plain invocations of the
        grouped_avp! and command! macros of src/message/typed.rs.

Imported by codegen.py, which owns the dictionary data (avps.tsv with the
rfc6733-types.tsv overlay, constants.tsv, vendors.tsv) and writes the files.
Every inconsistency in the exported facts is an error unless fixes.tsv
says what to do about it; see tools/dictionary/README.md.
"""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict

# Rust type of a field, by AvpType variant (after the rfc6733-types overlay)
RUST_TYPES = {
    "OctetString": "Vec<u8>",
    "Integer32": "i32",
    "Enumerated": "i32",
    "Integer64": "i64",
    "Unsigned32": "u32",
    "Unsigned64": "u64",
    "Float32": "f32",
    "Float64": "f64",
    "Utf8String": "String",
    "DiameterIdentity": "String",
    "DiameterUri": "String",
    "IpFilterRule": "String",
    "QosFilterRule": "String",
    "Address": "Address",
    "Time": "SystemTime",
}
INTEGER_TYPES = {"i32", "i64", "u32", "u64"}
# names a field type may need, and where they come from
IMPORTS = {
    "Address": "use crate::message::Address;",
    "Avp": "use crate::message::Avp;",
    "SystemTime": "use std::time::SystemTime;",
}

# Rust keywords: fields named like one are written as raw identifiers
KEYWORDS = set("""as async await break const continue dyn else enum extern false fn for
    if impl in let loop match mod move mut pub ref return static struct trait true type
    unsafe use where while abstract become box do final gen macro override priv try
    typeof unsized virtual yield""".split())
# keywords that cannot be raw identifiers, and names the macros use themselves
FORBIDDEN_FIELDS = {"self", "Self", "super", "crate", "_", "header", "additional_avps"}

BOOLS = {"true": True, "false": False}
FIX_ACTIONS = {"drop", "avp", "rename", "multiple", "default", "keep", "add", "ignore"}


class TypedError(Exception):
    pass


def norm(text: str) -> str:
    """Letters and digits only, lower case: compares class and AVP names."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def parse_bool(text: str, where: str, allow_none: bool = False) -> bool | None:
    if allow_none and text == "-":
        return None
    if text not in BOOLS:
        raise TypedError(f"{where}: expected true or false{' or -' if allow_none else ''}, "
                         f"found {text!r}")
    return BOOLS[text]


def parse_u32(text: str, where: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) >= 2**32:
        raise TypedError(f"{where}: {text!r} is not an unsigned 32-bit integer")
    return int(text)


class Field:
    def __init__(self, where, index, name, code, vendor, multiple, type_class, required,
                 mandatory, default, annotated=None):
        self.where = where
        self.index = index          # position in python's avp_def, None when added
        self.name = name
        self.python_name = name
        self.code = code
        self.vendor = vendor
        self.multiple = multiple
        self.type_class = type_class
        self.required = required
        self.mandatory = mandatory
        self.default = default      # text as exported: '-', an integer, 'type:Name'
        self.annotated = annotated  # commands only: 'list', 'single', '-'
        self.fixes: list[str] = []  # fix actions applied to this field
        self.multiple_fixed = False
        self.kept = False


class Struct:
    def __init__(self, name, kind, where):
        self.name = name
        self.kind = kind            # 'grouped' or 'command'
        self.where = where
        self.fields: list[Field] = []
        self.additional_avps = True  # python keeps unknown members (grouped only)
        self.base = None             # python base class (grouped only)
        self.orphans: dict[str, tuple[str, str, str]] = {}  # name -> (annotated, post_init, where)
        self.command = None          # the command dict, for commands


class Typed:
    def __init__(self, data, read_tsv, sources: dict) -> None:
        self.data = data
        self.grouped: dict[str, Struct] = {}
        self.aliases: dict[str, str] = {}
        self.commands: list[dict] = []
        self.classes: dict[str, Struct] = {}   # command classes
        self.fixes: list[dict] = []
        self.notes: list[str] = []
        self._read(read_tsv, sources)

    # ------------------------------------------------------------------ input

    def _read(self, read_tsv, sources) -> None:
        sources["grouped_classes.tsv"], rows = read_tsv("grouped_classes.tsv", 4)
        counts = {}
        for lineno, (name, additional, count, base) in rows:
            where = f"grouped_classes.tsv:{lineno}"
            if name in self.grouped:
                raise TypedError(f"{where}: duplicate class {name}")
            s = Struct(name, "grouped", where)
            s.additional_avps = parse_bool(additional, where)
            s.base = None if base == "-" else base
            self.grouped[name] = s
            counts[name] = parse_u32(count, where)

        sources["grouped.tsv"], rows = read_tsv("grouped.tsv", 10)
        for lineno, f in rows:
            where = f"grouped.tsv:{lineno}"
            s = self.grouped.get(f[0])
            if s is None:
                raise TypedError(f"{where}: class {f[0]} is not in grouped_classes.tsv")
            index = parse_u32(f[1], where)
            if index != len(s.fields):
                raise TypedError(f"{where}: {f[0]} field index {index} is out of order")
            s.fields.append(Field(where, index, f[2], parse_u32(f[3], where),
                                  parse_u32(f[4], where), parse_bool(f[5], where),
                                  None if f[6] == "-" else f[6], parse_bool(f[7], where),
                                  parse_bool(f[8], where, allow_none=True), f[9]))
        for name, s in self.grouped.items():
            if len(s.fields) != counts[name]:
                raise TypedError(f"{s.where}: {name} has {counts[name]} fields but "
                                 f"grouped.tsv lists {len(s.fields)}")

        sources["grouped_aliases.tsv"], rows = read_tsv("grouped_aliases.tsv", 2)
        for lineno, (alias, target) in rows:
            where = f"grouped_aliases.tsv:{lineno}"
            if target not in self.grouped:
                raise TypedError(f"{where}: {alias} names unknown class {target}")
            if alias in self.grouped or alias in self.aliases:
                raise TypedError(f"{where}: {alias} is already a class or alias")
            self.aliases[alias] = target

        sources["defined_commands.tsv"], rows = read_tsv("defined_commands.tsv", 8)
        by_code = {}
        for lineno, f in rows:
            where = f"defined_commands.tsv:{lineno}"
            code = parse_u32(f[0], where)
            if code in by_code:
                raise TypedError(f"{where}: duplicate command {code}")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", f[3]):
                raise TypedError(f"{where}: module {f[3]!r} cannot be a Rust module name")
            cmd = {"code": code, "base": f[1], "name": f[2], "module": f[3], "where": where}
            for kind, cls, proxyable in (("request", f[4], f[5]), ("answer", f[6], f[7])):
                if cls in self.classes or cls in self.grouped or cls in self.aliases:
                    raise TypedError(f"{where}: class name {cls} is used twice")
                s = Struct(cls, "command", where)
                s.command = cmd
                cmd[kind] = s
                cmd[kind + "_proxyable"] = parse_bool(proxyable, where)
                self.classes[cls] = s
            by_code[code] = cmd
            self.commands.append(cmd)
            if code not in self.data.commands:
                raise TypedError(f"{where}: command {code} is not in commands.tsv")
            if self.data.commands[code] != cmd["name"]:
                raise TypedError(f"{where}: {cmd['name']!r} is {self.data.commands[code]!r} "
                                 f"in commands.tsv")
            if self.data.command_classes[code] != cmd["base"]:
                raise TypedError(f"{where}: base class {cmd['base']} is "
                                 f"{self.data.command_classes[code]} in commands.tsv")

        sources["command_fields.tsv"], rows = read_tsv("command_fields.tsv", 12)
        for lineno, f in rows:
            where = f"command_fields.tsv:{lineno}"
            s = self._command_class(f[0], f[1], where)
            index = parse_u32(f[2], where)
            if index != len(s.fields):
                raise TypedError(f"{where}: {f[1]} field index {index} is out of order")
            if f[11] not in ("list", "single", "-"):
                raise TypedError(f"{where}: annotated must be list, single or -")
            s.fields.append(Field(where, index, f[3], parse_u32(f[4], where),
                                  parse_u32(f[5], where), parse_bool(f[6], where),
                                  None if f[7] == "-" else f[7], parse_bool(f[8], where),
                                  parse_bool(f[9], where, allow_none=True), f[10], f[11]))

        sources["command_orphans.tsv"], rows = read_tsv("command_orphans.tsv", 5)
        for lineno, f in rows:
            where = f"command_orphans.tsv:{lineno}"
            s = self._command_class(f[0], f[1], where)
            if f[2] in s.orphans:
                raise TypedError(f"{where}: {f[1]}.{f[2]} listed twice")
            s.orphans[f[2]] = (f[3], f[4], where)

        _, rows = read_tsv("fixes.tsv", 6)
        for lineno, f in rows:
            where = f"fixes.tsv:{lineno}"
            cls, index, attr, action, value, reason = f[:6]
            if action not in FIX_ACTIONS:
                raise TypedError(f"{where}: unknown action {action!r} "
                                 f"(one of {', '.join(sorted(FIX_ACTIONS))})")
            if not reason.strip() or reason == "-":
                raise TypedError(f"{where}: every fix needs a reason")
            self.fixes.append({"class": cls, "index": None if index == "-" else
                               parse_u32(index, where), "attr": attr, "action": action,
                               "value": value, "reason": reason, "where": where})

    def _command_class(self, code: str, cls: str, where: str) -> Struct:
        s = self.classes.get(cls)
        if s is None or str(s.command["code"]) != code:
            raise TypedError(f"{where}: {cls} is not a class of command {code} in "
                             f"defined_commands.tsv")
        return s

    # ------------------------------------------------------------------ fixes

    def _struct(self, name: str, where: str) -> Struct:
        s = self.grouped.get(name) or self.classes.get(name)
        if s is None:
            raise TypedError(f"{where}: {name} is neither a grouped class nor a command class")
        return s

    def _constant(self, name: str, prefix: str, where: str) -> int:
        if not name.startswith(prefix):
            raise TypedError(f"{where}: {name} is not a {prefix}* constant")
        for cname, kind, value in self.data.constants:
            if cname == name and kind == "int":
                return value
        raise TypedError(f"{where}: {name} is not in constants.tsv")

    def _options(self, text: str, where: str, allowed: set[str]) -> dict[str, str]:
        opts = {}
        for item in text.split():
            key, sep, value = item.partition("=")
            if not sep or key not in allowed or key in opts:
                raise TypedError(f"{where}: bad option {item!r} (expected "
                                 f"{', '.join(sorted(allowed))} as key=value)")
            opts[key] = value
        return opts

    def apply_fixes(self) -> None:
        # fixes that name a field of python's avp_def, by its index; then adds
        # (which may refer to renamed fields) and ignores
        ordered = sorted(self.fixes, key=lambda f: f["action"] in ("add", "ignore"))
        for fix in ordered:
            where, action = fix["where"], fix["action"]
            s = self._struct(fix["class"], where)
            if action in ("add", "ignore"):
                if fix["index"] is not None:
                    raise TypedError(f"{where}: {action} takes index -")
                self._apply_new(s, fix)
                continue
            field = next((f for f in s.fields if f.index == fix["index"]), None)
            if field is None or field.python_name != fix["attr"]:
                raise TypedError(f"{where}: {s.name} has no field {fix['attr']!r} at index "
                                 f"{fix['index']} (stale fix?)")
            value = fix["value"]
            if action == "drop":
                if value != "-":
                    raise TypedError(f"{where}: drop takes value -")
                s.fields.remove(field)
            elif action == "avp":
                opts = self._options(value, where, {"code", "vendor"})
                if set(opts) != {"code", "vendor"}:
                    raise TypedError(f"{where}: avp needs code=AVP_... vendor=VENDOR_...")
                code = self._constant(opts["code"], "AVP_", where)
                vendor = self._constant(opts["vendor"], "VENDOR_", where)
                if (code, vendor) == (field.code, field.vendor):
                    raise TypedError(f"{where}: {s.name}.{field.name} already is AVP "
                                     f"{code} vendor {vendor} (stale fix?)")
                field.code, field.vendor = code, vendor
            elif action == "rename":
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", value) or value == field.name:
                    raise TypedError(f"{where}: bad new name {value!r}")
                field.name = value
                if s.kind == "command":
                    orphan = s.orphans.pop(value, None)
                    if orphan is not None:
                        field.annotated = orphan[0]
            elif action == "multiple":
                multiple = parse_bool(value, where)
                field.multiple = multiple
                field.multiple_fixed = True
            elif action == "default":
                if value != "-" or field.default == "-":
                    raise TypedError(f"{where}: default can only clear a python default "
                                     f"(value -)")
                field.default = "-"
            elif action == "keep":
                if value != "-":
                    raise TypedError(f"{where}: keep takes value -")
                field.kept = True
            field.fixes.append(action)

    def _apply_new(self, s: Struct, fix: dict) -> None:
        where, attr = fix["where"], fix["attr"]
        if s.kind != "command" or attr not in s.orphans:
            raise TypedError(f"{where}: {s.name}.{attr} is not in command_orphans.tsv "
                             f"(stale fix?)")
        annotated, _, _ = s.orphans.pop(attr)
        if fix["action"] == "ignore":
            if fix["value"] != "-":
                raise TypedError(f"{where}: ignore takes value -")
            return
        opts = self._options(fix["value"], where,
                             {"after", "code", "vendor", "multiple", "type_class"})
        missing = {"after", "code", "vendor", "multiple"} - set(opts)
        if missing:
            raise TypedError(f"{where}: add needs {', '.join(sorted(missing))}")
        position = next((i for i, f in enumerate(s.fields) if f.name == opts["after"]), None)
        if position is None:
            raise TypedError(f"{where}: {s.name} has no field {opts['after']!r}")
        field = Field(where, None, attr, self._constant(opts["code"], "AVP_", where),
                      self._constant(opts["vendor"], "VENDOR_", where),
                      parse_bool(opts["multiple"], where), opts.get("type_class"),
                      False, None, "-", annotated)
        field.multiple_fixed = True
        field.fixes.append("add")
        s.fields.insert(position + 1, field)

    # ------------------------------------------------------------- validation

    def check(self) -> None:
        self.apply_fixes()
        errors: list[str] = []
        class_names = set(self.grouped) | set(self.aliases)
        by_avp_name = {norm(n): n for n in class_names}
        for s in list(self.grouped.values()) + list(self.classes.values()):
            names: dict[str, Field] = {}
            keys: dict[tuple[int, int], Field] = {}
            for f in s.fields:
                what = f"{f.where}: {s.name}.{f.name}"
                if f.name in names:
                    errors.append(f"{what}: attribute defined twice (also {names[f.name].where})")
                names[f.name] = f
                if (f.code, f.vendor) in keys:
                    errors.append(f"{what}: AVP {f.code} vendor {f.vendor} is also "
                                  f"{keys[(f.code, f.vendor)].name}")
                keys[(f.code, f.vendor)] = f
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", f.name) or f.name in FORBIDDEN_FIELDS:
                    errors.append(f"{what}: cannot be a field name")
                entry = self.data.avps.get(f.vendor, {}).get(f.code)
                if entry is None:
                    errors.append(f"{what}: AVP {f.code} vendor {f.vendor} is not in the "
                                  f"dictionary")
                    continue
                f.avp_name = entry["name"]
                f.variant = entry["variant"]
                if f.type_class is not None:
                    if f.type_class not in self.grouped:
                        errors.append(f"{what}: type_class {f.type_class} is not a grouped "
                                      f"class")
                    elif f.variant != "Grouped":
                        errors.append(f"{what}: has type_class {f.type_class} but AVP "
                                      f"{f.code} vendor {f.vendor} ({entry['name']}) is "
                                      f"{f.variant}")
                    else:
                        # a class named after the AVP exists, but another is used
                        own = by_avp_name.get(norm(entry["name"]))
                        if (own is not None and norm(own) != norm(f.type_class)
                                and self.aliases.get(own) != f.type_class):
                            errors.append(f"{what}: AVP {entry['name']} has its own class "
                                          f"{own}, but type_class is {f.type_class}")
                if f.default != "-":
                    if s.kind == "grouped" or not re.fullmatch(r"-?[0-9]+", f.default):
                        errors.append(f"{what}: python default {f.default!r} is not "
                                      f"supported (add a 'default' fix)")
                    elif self.rust_scalar(f) not in INTEGER_TYPES:
                        errors.append(f"{what}: integer default for a "
                                      f"{f.variant} AVP")
                if s.kind == "command":
                    if f.annotated == "-" and not f.kept and "add" not in f.fixes:
                        errors.append(f"{what}: the class has no annotation for it "
                                      f"(add a rename or keep fix)")
                    elif (f.annotated in ("list", "single") and not f.multiple_fixed
                          and (f.annotated == "list") != f.multiple):
                        errors.append(f"{what}: annotated {f.annotated} but "
                                      f"{'a list' if f.multiple else 'not a list'} after "
                                      f"__post_init__ (add a multiple fix)")
            for attr, (_, _, where) in s.orphans.items():
                errors.append(f"{where}: {s.name}.{attr} has no AvpGenDef (add an add or "
                              f"ignore fix)")
        for cycle in self._cycles():
            errors.append("grouped classes contain each other through single-valued "
                          "fields (the struct would be infinitely large): "
                          + " -> ".join(cycle))
        for name in list(self.grouped) + list(self.aliases) + list(self.classes):
            if name in IMPORTS or name in ("AnyCommand", "Message"):
                errors.append(f"class name {name} clashes with a Rust type the generated "
                              f"code uses")
        if errors:
            raise TypedError("\n  ".join([f"{len(errors)} problems in the typed-struct "
                                          f"data:"] + errors))

    def _cycles(self) -> list[list[str]]:
        found = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for f in self.grouped[name].fields:
                t = f.type_class
                if f.multiple or t not in self.grouped:
                    continue
                if state.get(t) == 1:
                    found.append(path[path.index(t):] + [t] if t in path else path + [t])
                elif t not in state:
                    visit(t, path + [t])
            state[name] = 2

        for name in sorted(self.grouped):
            if name not in state:
                visit(name, [name])
        return found

    # ---------------------------------------------------------------- naming

    def rust_scalar(self, f: Field) -> str:
        if f.variant == "Grouped":
            if f.type_class is None:
                return "Avp"
            # the alias when the AVP is named after it (RequestedServiceUnit)
            for alias, target in sorted(self.aliases.items()):
                if target == f.type_class and norm(alias) == norm(f.avp_name):
                    return alias
            return f.type_class
        return RUST_TYPES[f.variant]

    def rust_type(self, f: Field) -> str:
        inner = self.rust_scalar(f)
        return f"Vec<{inner}>" if f.multiple else f"Option<{inner}>"


class Names:
    """Constant names for AVP codes, vendors and commands."""

    def __init__(self, data, stems: dict[int, str], constant_docs) -> None:
        self.warnings: list[str] = []
        self.notes: list[str] = []
        by_value: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for name, kind, value in data.constants:
            if kind == "int":
                prefix = name.split("_", 1)[0]
                by_value[prefix][value].append(name)
        self.vendor_consts = {}
        for vendor, names in by_value["VENDOR"].items():
            if vendor == 0 and "VENDOR_NONE" in names:
                self.vendor_consts[0] = "VENDOR_NONE"
            else:
                self.vendor_consts[vendor] = min(names, key=lambda n: (len(n), n))
        self.cmd_consts = {}
        for code, names in by_value["CMD"].items():
            wanted = "_" + norm_const(data.commands.get(code, "?"))
            preferred = [n for n in names if n.endswith(wanted)]
            self.cmd_consts[code] = min(preferred or names, key=lambda n: (len(n), n))
        # (vendor, code) -> AVP_ constant, through the constant docs' resolver
        candidates: dict[tuple[int, int], list[str]] = defaultdict(list)
        for name, kind, value in data.constants:
            if name.startswith("AVP_") and kind == "int":
                hit = constant_docs.resolve_avp(name)
                if hit is not None:
                    candidates[(hit[0], value)].append(name)
        # AVP_ constants that name an entry other than the one of their code
        # (python's AVP_TGPP_PROSE_VALIDITY_TIMER): by value and vendor prefix
        fallback: dict[tuple[int, int], list[str]] = defaultdict(list)
        prefixes = {v: f"AVP_{s.upper()}_" for v, s in stems.items() if v != 0}
        for name, kind, value in data.constants:
            if name.startswith("AVP_") and kind == "int":
                vendor = next((v for v, p in prefixes.items() if name.startswith(p)), 0)
                fallback[(value, vendor)].append(name)
        self.fallback_avp_consts = {k: min(v, key=lambda n: (len(n), n))
                                    for k, v in fallback.items()}
        self.avp_consts = {}
        for (vendor, code), names in candidates.items():
            avp_name = data.avps[vendor][code]["name"]
            stem = "" if vendor == 0 else stems.get(vendor, "").upper() + "_"
            exact = "AVP_" + stem + norm_const(avp_name)
            self.avp_consts[(code, vendor)] = (exact if exact in names
                                               else min(names, key=lambda n: (len(n), n)))

    def avp(self, code: int, vendor: int) -> str:
        name = self.avp_consts.get((code, vendor))
        if name is None:
            name = self.fallback_avp_consts.get((code, vendor))
            if name is not None:
                self.notes.append(f"AVP {code} vendor {vendor} is written {name}, the "
                                  f"constant python has for it under another name")
                return name
        if name is None:
            self.warnings.append(f"no AVP_ constant for AVP {code} vendor {vendor}; "
                                 f"the number is used")
            return str(code)
        return name

    def vendor(self, vendor: int) -> str:
        name = self.vendor_consts.get(vendor)
        if name is None:
            self.warnings.append(f"no VENDOR_ constant for vendor {vendor}; the number is used")
            return str(vendor)
        return name

    def command(self, code: int) -> str:
        name = self.cmd_consts.get(code)
        if name is None:
            self.warnings.append(f"no CMD_ constant for command {code}; the number is used")
            return str(code)
        return name


def norm_const(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def raw_ident(name: str) -> str:
    return f"r#{name}" if name in KEYWORDS else name


def rust_str(text: str) -> str:
    """A Rust string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def doc_text(text: str) -> str:
    """Names from the data as plain rustdoc text: no code spans, no HTML."""
    return text.replace("`", "'").replace("<", "&lt;").replace(">", "&gt;")


def doc_lines(paragraphs: list[str], indent: int) -> list[str]:
    """/// lines, paragraphs wrapped to 100 columns (rustfmt leaves macro
    bodies alone, so the generator keeps them tidy itself)."""
    prefix = " " * indent + "/// "
    lines = []
    for i, paragraph in enumerate(paragraphs):
        if i:
            lines.append(prefix.rstrip())
        lines += [prefix + line for line in
                  textwrap.wrap(paragraph, 100 - len(prefix), break_long_words=False,
                                break_on_hyphens=False)]
    return lines


# ---------------------------------------------------------------------- output


class Writer:
    def __init__(self, typed: Typed, names: Names, header: str, source: str) -> None:
        self.t = typed
        self.names = names
        self.header = header
        self.source = source
        # grouped class -> the AVPs it is used for: (code, vendor, name)
        self.used_for: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
        self.used_by: dict[str, set[str]] = defaultdict(set)
        for s in list(typed.grouped.values()) + list(typed.classes.values()):
            for f in s.fields:
                if f.type_class is not None:
                    self.used_for[f.type_class].add((f.code, f.vendor, f.avp_name))
                    self.used_by[f.type_class].add(s.name)
        # grouped AVPs by name as python's classes spell it (3GPP- left out)
        self.grouped_by_norm: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for vendor, table in typed.data.avps.items():
            for code, e in table.items():
                if e["variant"] == "Grouped":
                    key = norm(e["name"])
                    self.grouped_by_norm[key].append((code, vendor, e["name"]))
                    if key.startswith("3gpp"):
                        self.grouped_by_norm[key[4:]].append((code, vendor, e["name"]))
        self.subclasses: dict[str, list[str]] = defaultdict(list)
        for s in typed.grouped.values():
            if s.base in typed.grouped:
                self.subclasses[s.base].append(s.name)

    @staticmethod
    def avp_label(code: int, vendor: int, name: str) -> str:
        name = doc_text(name)
        return f"{name} ({code})" if vendor == 0 else f"{name} ({code}, vendor {vendor})"

    def link(self, name: str) -> str:
        module = "grouped" if name in self.t.grouped or name in self.t.aliases else "commands"
        return f"[`{name}`](crate::message::{module}::{name})"

    def struct_doc(self, s: Struct) -> list[str]:
        avps = sorted(self.used_for.get(s.name, ()), key=lambda a: (a[1], a[0]))
        if not avps:
            avps = sorted(self.grouped_by_norm.get(norm(s.name), ()), key=lambda a: (a[1], a[0]))
        subclasses = sorted(self.subclasses.get(s.name, ()))
        if not avps and subclasses:
            lines = [f"The members that {' and '.join(self.link(c) for c in subclasses)} share "
                     f"(python's base class of both); not an AVP of its own."]
        elif not avps:
            self.names.warnings.append(f"grouped class {s.name}: no AVP uses it and no "
                                       f"grouped AVP has its name")
            lines = [f"The members of a grouped AVP (python's `{s.name}`)."]
        elif len(avps) == 1:
            lines = [f"The {self.avp_label(*avps[0])} grouped AVP."]
        else:
            labels = [self.avp_label(*a) for a in avps]
            lines = [f"The members of the {', '.join(labels[:-1])} and {labels[-1]} "
                     f"grouped AVPs."]
        twins = sorted(n for n, a in self.used_for.items() if n != s.name and set(a) & set(avps))
        twins += sorted(n for n in self.t.grouped if n != s.name and n not in self.used_for
                        and norm(n) == norm(s.name))
        if twins:
            users = sorted(self.used_by.get(s.name, ()))
            where = (f"the type of fields of {', '.join(self.link(u) for u in users)}"
                     if users else "the type of no field")
            lines.append(f"Not to be confused with {', '.join(self.link(t) for t in twins)}: "
                         f"this one is {where}.")
        if not s.additional_avps:
            lines.append("python-diameter drops the members this class has no field for; "
                         "this struct keeps them in `additional_avps`.")
        return lines

    def field_doc(self, f: Field) -> str:
        parts = [self.avp_label(f.code, f.vendor, f.avp_name) + "."]
        if f.variant == "Grouped" and f.type_class is None:
            parts.append("The whole grouped AVP: python-diameter has no class for its "
                         "members.")
        if f.required:
            parts.append("Required.")
        if f.mandatory is not None:
            parts.append(f"Sent with the M flag {'set' if f.mandatory else 'clear'}.")
        if f.default != "-":
            parts.append(f"`new()` sets it to {f.default}.")
        if any(a in f.fixes for a in ("add", "avp", "rename")):
            parts.append("Corrected from python-diameter, see `tools/dictionary/fixes.tsv`.")
        return " ".join(parts)

    def field_lines(self, f: Field) -> list[str]:
        args = [self.names.avp(f.code, f.vendor), self.names.vendor(f.vendor)]
        if f.mandatory is not None:
            args.append(f"mandatory = {'true' if f.mandatory else 'false'}")
        if f.default != "-":
            args.append(f"default = Some({f.default})")
        return doc_lines([self.field_doc(f)], 8) + [
            f"        pub {raw_ident(f.name)}: {self.t.rust_type(f)} = ({', '.join(args)}),"]

    def uses(self, structs: list[Struct], local: set[str], grouped_path: str) -> list[str]:
        scalars = {self.t.rust_scalar(f) for s in structs for f in s.fields}
        lines = []
        if any(s.fields for s in structs):
            lines.append("use crate::message::constants::*;")
        external = sorted(n for n in scalars
                          if (n in self.t.grouped or n in self.t.aliases) and n not in local)
        if len(external) == 1:
            lines.append(f"use {grouped_path}::{external[0]};")
        elif external:
            lines.append(f"use {grouped_path}::{{{', '.join(external)}}};")
        lines += [IMPORTS[n] for n in sorted(scalars) if n in IMPORTS]
        return lines

    def file_header(self) -> list[str]:
        return [self.header, f"// source: {self.source}", ""]

    # grouped AVPs --------------------------------------------------------

    def grouped_files(self) -> dict[str, str]:
        by_file: dict[str, list[Struct]] = defaultdict(list)
        for name in sorted(self.t.grouped):
            by_file[name[0].lower()].append(self.t.grouped[name])
        files = {}
        for stem, structs in sorted(by_file.items()):
            lines = self.file_header()
            lines += self.uses(structs, {s.name for s in structs}, "super")
            for s in structs:
                lines += ["", "crate::grouped_avp! {"]
                lines += doc_lines(self.struct_doc(s), 4)
                if not s.fields:
                    lines += [f"    pub struct {s.name} {{}}", "}"]
                    continue
                lines.append(f"    pub struct {s.name} {{")
                for f in s.fields:
                    lines += self.field_lines(f)
                lines += ["    }", "}"]
            files[f"{stem}.rs"] = "\n".join(lines) + "\n"
        mod = self.file_header()
        mod += ["// Grouped AVP structs, one file per first letter of the class name.", ""]
        mod += [f"mod {stem};" for stem in sorted(by_file)]
        mod += [""]
        mod += [f"pub use {stem}::*;" for stem in sorted(by_file)]
        for alias, target in sorted(self.t.aliases.items()):
            avps = sorted(self.grouped_by_norm.get(norm(alias), ()), key=lambda a: (a[1], a[0]))
            what = (f"The {self.avp_label(*avps[0])} grouped AVP: another" if len(avps) == 1
                    else "Another")
            mod += [""] + doc_lines([f"{what} name for [`{target}`], as in python-diameter."], 0)
            mod += [f"pub type {alias} = {target};"]
        files["mod.rs"] = "\n".join(mod) + "\n"
        return files

    # commands ------------------------------------------------------------

    def command_doc(self, cmd: dict, kind: str) -> list[str]:
        s = cmd[kind]
        r_bit = "sets the R bit" if kind == "request" else "clears the R bit"
        p_bit = "sets the P bit" if cmd[kind + "_proxyable"] else "clears the P bit"
        return [f"{doc_text(cmd['name'])}-{kind.capitalize()} (command {cmd['code']}), "
                f"python's `{s.name}`.",
                f"[`new`](Self::new) {r_bit} and {p_bit}."]

    def command_files(self) -> dict[str, str]:
        files = {}
        modules = {}
        for cmd in self.t.commands:
            module = cmd["module"]
            if module in modules or module == "classes":
                raise TypedError(f"{cmd['where']}: module {module} used twice")
            modules[module] = cmd
            structs = [cmd["request"], cmd["answer"]]
            lines = self.file_header()
            lines += self.uses(structs, set(), "crate::message::grouped")
            for kind in ("request", "answer"):
                s = cmd[kind]
                lines += ["", "crate::command! {"]
                lines += doc_lines(self.command_doc(cmd, kind), 4)
                lines.append(f"    pub struct {s.name}: code {self.names.command(cmd['code'])}, "
                             f"request {'true' if kind == 'request' else 'false'}, "
                             f"proxyable {'true' if cmd[kind + '_proxyable'] else 'false'} {{")
                for f in s.fields:
                    lines += self.field_lines(f)
                lines += ["    }", "}"]
            lines += ["", f"impl crate::message::typed::Request for {cmd['request'].name} {{",
                      f"    type Answer = {cmd['answer'].name};", "}"]
            files[f"{module}.rs"] = "\n".join(lines) + "\n"
        files["classes.rs"] = self.classes_file()
        mod = self.file_header()
        mod += ["// Command structs, one file per python-diameter command module; the",
                "// command classes of all_commands in classes.rs.", ""]
        mod += [f"mod {m};" for m in sorted([*modules, "classes"])]
        mod += [""]
        mod += [f"pub use {m}::*;" for m in sorted([*modules, "classes"])]
        mod += ["",
                "/// The AVPs python-diameter marks required in each command, by (command",
                "/// code, is request): (code, vendor id) pairs, for DIAMETER_MISSING_AVP checks.",
                "pub(crate) type RequiredAvps = (u32, bool, &'static [(u32, u32)]);",
                "",
                "/// Every command's required AVPs.",
                "#[rustfmt::skip]",
                "pub(crate) static REQUIRED_AVPS: &[RequiredAvps] = &["]
        for cmd in sorted(self.t.commands, key=lambda c: c["code"]):
            for kind in ("request", "answer"):
                req = [f"({f.code}, {f.vendor})" for f in cmd[kind].fields if f.required]
                mod.append(f"    ({cmd['code']}, {'true' if kind == 'request' else 'false'}, "
                           f"&[{', '.join(req)}]),")
        mod += ["];"]
        mod += ["",
                "/// Calls `$callback! { Request => Answer, ... }` with every defined command,",
                "/// in command code order; the names must be in scope where it expands.",
                "#[doc(hidden)]",
                "#[macro_export]",
                "macro_rules! __for_each_command {",
                "    ($callback:ident) => {",
                "        $callback! {"]
        mod += [f"            {cmd['request'].name} => {cmd['answer'].name},"
                for cmd in sorted(self.t.commands, key=lambda c: c["code"])]
        mod += ["        }",
                "    };",
                "}",
                "",
                "crate::__for_each_command!(any_command);"]
        files["mod.rs"] = "\n".join(mod) + "\n"
        return files

    def classes_file(self) -> str:
        """Every command class of python's all_commands, in code order: the
        base class of a defined command (with its Request and Answer structs)
        or a class python defines no fields for."""
        data = self.t.data
        defined = {cmd["code"]: cmd for cmd in self.t.commands}
        lines = self.file_header()
        lines += ["use crate::message::constants::*;", "",
                  "command_classes! {"]
        for code in sorted(data.commands):
            cls = data.command_classes[code]
            name = data.commands[code]
            label = f"{doc_text(name)} (command {code})"
            const = self.names.cmd_consts.get(code, str(code))
            cmd = defined.get(code)
            if cmd is not None:
                req, ans = cmd["request"].name, cmd["answer"].name
                doc = (f"{label}: python's `{cls}`, the base class of "
                       f"[`{req}`](crate::message::commands::{req}) and "
                       f"[`{ans}`](crate::message::commands::{ans}).")
                entry = f"    {cls} = ({const}, {rust_str(name)}, {req}, {ans}),"
            else:
                doc = f"{label}: python's `{cls}`, a command it gives no fields."
                entry = f"    {cls} = ({const}, {rust_str(name)}),"
            lines += doc_lines([doc], 4)
            lines.append(entry)
        lines += ["}"]
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- summary

    def summary(self) -> list[str]:
        t = self.t
        g_fields = sum(len(s.fields) for s in t.grouped.values())
        c_fields = sum(len(s.fields) for s in t.classes.values())
        by_action = defaultdict(int)
        for fix in t.fixes:
            by_action[fix["action"]] += 1
        return [
            f"  grouped AVP structs: {len(t.grouped)} ({g_fields} fields, "
            f"{sum(1 for s in t.grouped.values() if not s.additional_avps)} of them without "
            f"additional_avps in python), {len(t.aliases)} aliases",
            f"  commands: {len(t.commands)} ({len(t.classes)} structs, {c_fields} fields)",
            f"  fixes.tsv: {len(t.fixes)} fixes: "
            + ", ".join(f"{a} {n}" for a, n in sorted(by_action.items())),
        ]
