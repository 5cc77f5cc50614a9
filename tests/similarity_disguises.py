"""Named disguises a copier applies to someone else's code, for calibrating the similarity flag.

Each disguise is a function ``(source, rng) -> source`` on a module of
top-level definitions (a file of ``tests/similarity_corpus``); each returns
valid Python that does what the original did (the contract's function names
and signatures are kept, so the copy would still be graded the same).
``DISGUISES`` maps each kind's name to its function; ``combined`` applies all.
"""
import ast
import builtins
import io
import itertools
import random
import re
import tokenize

KEEP = {"reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "train_mnist_vae", "creconstruct",
        "celbo", "train_mnist_cvae", "MNISTArgs", "get_mnist_data", "Encoder", "VAE", "CVAE",
        "append_class_to_data", "torch", "nn", "F", "np", "math", "copy", "logging", "optim", "D",
        "DataLoader", "TensorDataset", "kwargs", "itertools"} | set(dir(builtins))
WORDS = ["val", "tmp", "data", "thing", "item", "res", "out", "buf", "acc", "cur", "obj", "part", "node", "blob"]


def _edit(source, edits):
    """Apply ``[(row, col_start, col_end, text)]`` (1-based rows, same-line spans) to ``source``."""
    lines = source.split("\n")
    for row, start, end, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + text + line[end:]
    return "\n".join(lines)


def _tokens(source):
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def rename_identifiers(source, rng):
    """Every name the author chose (locals, parameters, helpers, module constants) renamed consistently."""
    tree = ast.parse(source)
    chosen, methods = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods.update(n.name for n in node.body if isinstance(n, ast.FunctionDef))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            chosen.add(node.name)
        elif isinstance(node, ast.arg):
            chosen.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            chosen.add(node.id)
    chosen -= KEEP | methods   # methods are called as attributes: their names stay
    chosen = {name for name in chosen if not name.startswith("__")}
    mapping = {name: f"{rng.choice(WORDS)}_{number}" for number, name in enumerate(sorted(chosen))}
    params = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            params[node.name] = {a.arg for a in node.args.args + node.args.kwonlyargs}
    edits, stack, previous, in_def = [], [], None, False
    tokens = _tokens(source)
    for i, token in enumerate(tokens):
        if token.type == tokenize.OP and token.string in "([{":
            callee = previous.string if previous is not None and previous.type == tokenize.NAME else None
            stack.append("def" if in_def else callee)
            in_def = False
        elif token.type == tokenize.OP and token.string in ")]}":
            stack and stack.pop()
        elif token.type == tokenize.NAME and token.string in mapping and not (previous and previous.string == "."):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            keyword_arg = following is not None and following.string == "=" and stack and stack[-1] != "def"
            if not keyword_arg or token.string in params.get(stack[-1], ()):
                edits.append((token.start[0], token.start[1], token.end[1], mapping[token.string]))
        if token.type == tokenize.NAME and token.string == "def":
            in_def = True
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    return _edit(source, edits)


def _top_level_chunks(source):
    tree = ast.parse(source)
    lines = source.split("\n")
    chunks = []
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunks.append((node, "\n".join(lines[first - 1:node.end_lineno])))
    return chunks


def reorder_definitions(source, rng):
    """Functions and classes in another order (imports and module constants stay first)."""
    chunks = _top_level_chunks(source)
    fixed = [text for node, text in chunks if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    movable = [text for node, text in chunks if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    original = list(movable)
    for _ in range(10):
        rng.shuffle(movable)
        if movable != original:
            break
    return "\n\n\n".join(fixed + movable) + "\n"


def _docstring_lines(source):
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


COMMENTS = ["compute the value", "as in the lecture", "see the handout", "main step", "careful with shapes",
            "this took me a while", "works now", "batch first"]


def rewrite_comments(source, rng):
    """Comments and docstrings removed, new comments of the copier's own added."""
    drop = _docstring_lines(source)
    edits = [(t.start[0], t.start[1], t.end[1], "") for t in _tokens(source) if t.type == tokenize.COMMENT]
    text = _edit(source, edits)
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        if number in drop or (not line.strip() and source.split("\n")[number - 1].strip().startswith("#")):
            continue
        line = line.rstrip()
        stripped = line.lstrip()
        if stripped.startswith("def "):
            out.append(f"{line[:len(line) - len(stripped)]}# {rng.choice(COMMENTS)}")
        if stripped.startswith(("return ", "for ")) and rng.random() < 0.5:
            line += f"  # {rng.choice(COMMENTS)}"
        out.append(line)
    return "\n".join(out)


def _requote(string):
    body = string
    prefix = ""
    while body and body[0] in "rbfRBF":
        prefix, body = prefix + body[0], body[1:]
    if len(body) >= 2 and body[0] == body[-1] and body[:3] not in ('"""', "'''"):
        quote = body[0]
        other = '"' if quote == "'" else "'"
        if other not in body[1:-1] and "\\" not in body:
            return prefix + other + body[1:-1] + other
    return string


def reformat(source, rng):
    """Re-laid out: two-space indents, spaces inside brackets, arguments one per line, other quotes."""
    out, line, level, depth, previous = [], "", 0, 0, None
    width = rng.choice([36, 44, 52])

    def emit(piece, space=True):
        nonlocal line
        if not line.strip():
            line = line + piece
        else:
            line = line + (" " if space else "") + piece

    for token in _tokens(source):
        kind, string = token.type, token.string
        if kind in (tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        if kind == tokenize.INDENT:
            level += 1
            continue
        if kind == tokenize.DEDENT:
            level -= 1
            continue
        if kind in (tokenize.NEWLINE, tokenize.NL):
            if kind == tokenize.NL and depth > 0:
                continue
            if line.strip() or previous in (tokenize.NEWLINE, tokenize.NL):
                out.append(line.rstrip())
            line, previous = "", kind
            if kind == tokenize.NEWLINE and level == 0:
                out.append("")
            continue
        if not line:
            line = "  " * level + ("    " * depth if depth else "")
        if kind == tokenize.COMMENT:
            emit(("  " if line.strip() else "") + string)
            if depth > 0:   # a comment inside brackets ends its line
                out.append(line.rstrip())
                line = "  " * level + "    " * depth
        elif kind == tokenize.STRING:
            emit(_requote(string))
        elif kind == tokenize.OP and string in "([{":
            glue = previous_string_is_name(line)
            emit(string, space=not glue)
            depth += 1
        elif kind == tokenize.OP and string in ")]}":
            depth -= 1
            emit(string)
        elif kind == tokenize.OP and string in (",", ":", "."):
            emit(string, space=False)
            if string == "," and depth > 0 and len(line) > width:
                out.append(line.rstrip())
                line = "  " * level + "    " * depth
        elif kind == tokenize.NAME and line.endswith("."):
            emit(string, space=False)
        else:
            emit(string)
        previous = kind
    if line.strip():
        out.append(line.rstrip())
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(out)) + "\n"


def previous_string_is_name(line):
    """Whether ``line`` ends in a name or a closing bracket (a call or subscript follows)."""
    return bool(re.search(r"[\w)\]]$", line))


SWAPS = [   # each entry: one rewrite, or two opposite ones (the first that applies is used)
    [(r"\b0\.5 \* (\w+)(?![\w.(\[])", r"\1 / 2")],
    [(r"torch\.exp\((\w+)\)", r"\1.exp()"), (r"(?<![\w.])(\w+)\.exp\(\)", r"torch.exp(\1)")],
    [(r"(\w+)\.pow\(2\)", r"\1 ** 2"), (r"(\w+) \*\* 2\b", r"\1.pow(2)")],
    [(r"\b1e-3\b", "0.001")],
    [(r"(?<![\w.])1 - ", "1.0 - ")],
    [(r"\.sum\(dim=1\)", ".sum(1)"), (r"\.sum\(1\)", ".sum(dim=1)")],
    [(r"range\((?!0, )([^,()]+)\)", r"range(0, \1)")],
    [(r"\.shape\[0\]", ".size(0)"), (r"\.size\(0\)", ".shape[0]")],
    [(r"(?m)^(\s*)(\w+) \+= (.+)$", r"\1\2 = \2 + (\3)")],
    [(r"(\w+) \* (\w+)\b(?![\w.(\[])", r"\2 * \1")],
]


def swap_equivalents(source, rng):
    """Equivalent literals and operations swapped: ``0.5 * a`` -> ``a / 2``, ``exp(a)`` <-> ``a.exp()``, ..."""
    text = source
    for alternatives in SWAPS:
        for pattern, replacement in alternatives:
            changed = re.sub(pattern, replacement, text)
            if changed != text:
                text = changed
                break
    return text


def insert_dead_code(source, rng):
    """Unused assignments and debug prints in every function, and an unused helper function."""
    tree = ast.parse(source)
    lines = source.split("\n")
    inserts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and len(node.body) > 1:
                first = node.body[1]
            indent = lines[first.lineno - 1][:first.col_offset]
            choice = rng.choice([f"{indent}_checked = True", f"{indent}debug_level = 0",
                                 f"{indent}print('in {node.name}')",
                                 f"{indent}if False:\n{indent}    print('unreachable')"])
            inserts.append((first.lineno - 1, choice))
        if isinstance(node, (ast.For, ast.While)):
            last = node.body[-1]
            indent = lines[last.lineno - 1][:last.col_offset]
            inserts.append((last.end_lineno, f"{indent}counter_unused = 1"))
    for at, text in sorted(inserts, reverse=True):
        lines.insert(at, text)
    lines += ["", ""] + rng.choice(UNUSED_HELPERS).split("\n") + [""]
    return "\n".join(lines)


UNUSED_HELPERS = [
    "def summarize_numbers(values):\n    total = 0\n    for value in values:\n        total += value\n"
    "    return total / max(len(values), 1)",
    "def show_shapes(*tensors):\n    for t in tensors:\n        print(tuple(t.shape))",
    "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
    "class Timer:\n    def __init__(self):\n        self.laps = []\n\n    def lap(self, value):\n"
    "        self.laps.append(value)\n        return len(self.laps)",
]


def split_merge_statements(source, rng):
    """Returns split into an assignment and a return; neighbouring simple statements merged with ``;``."""
    tree = ast.parse(source)
    lines = source.split("\n")
    replace = {}
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            body = getattr(node, field, None)
            if not isinstance(body, list) or isinstance(node, ast.Module):
                continue
            skip = False
            for x, statement in enumerate(body):
                if skip:
                    skip = False
                    continue
                one_line = statement.lineno == statement.end_lineno
                if isinstance(statement, ast.Return) and statement.value is not None and one_line \
                        and not isinstance(statement.value, (ast.Tuple, ast.Name)):
                    indent = lines[statement.lineno - 1][:statement.col_offset]
                    replace[statement.lineno] = (f"{indent}result_value = {ast.get_source_segment(source, statement.value)}"
                                                 f"\n{indent}return result_value")
                elif x + 1 < len(body) and isinstance(statement, (ast.Assign, ast.Expr)) and one_line:
                    after = body[x + 1]
                    if isinstance(after, (ast.Assign, ast.Expr)) and after.lineno == after.end_lineno \
                            and after.lineno == statement.lineno + 1 and "#" not in lines[statement.lineno - 1] \
                            and not isinstance(statement.value, ast.Constant):
                        replace[statement.lineno] = lines[statement.lineno - 1] + "; " + lines[after.lineno - 1].strip()
                        replace[after.lineno] = None
                        skip = True
    out = []
    for number, line in enumerate(lines, start=1):
        if number in replace:
            if replace[number] is not None:
                out.append(replace[number])
        else:
            out.append(line)
    return "\n".join(out)


def combined(source, rng):
    """All of the above, one after the other (what a determined copier does)."""
    for disguise in (rename_identifiers, reorder_definitions, rewrite_comments, swap_equivalents,
                     insert_dead_code, split_merge_statements, reformat):
        source = disguise(source, rng)
    return source


DISGUISES = {
    "rename identifiers": rename_identifiers,
    "reorder definitions": reorder_definitions,
    "rewrite comments and docstrings": rewrite_comments,
    "reformat layout": reformat,
    "swap equivalent literals and ops": swap_equivalents,
    "insert dead code and prints": insert_dead_code,
    "split and merge statements": split_merge_statements,
    "all combined": combined,
}


def disguise(source, kind, seed=0):
    """``source`` disguised by the named ``kind`` with a seeded random choice of details."""
    return DISGUISES[kind](source, random.Random(f"{kind}:{seed}"))


# ---------------------------------------------------------------- submissions built from the corpus

CORPUS = __import__("pathlib").Path(__file__).resolve().parent / "similarity_corpus"
CONTRACT = ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "train_mnist_vae", "creconstruct",
            "celbo", "train_mnist_cvae")


def corpus():
    """``{name: source}`` of the independent solutions, in name order."""
    return {path.stem: path.read_text() for path in sorted(CORPUS.glob("s*.py"))}


@__import__("functools").lru_cache(maxsize=1)
def template_code_cells():
    """The released template's code cells as ``((label, text), ...)``, with the TODO stub cells left out."""
    from graders.similarity import template_cells
    stub = re.compile(r"^def (%s)\(" % "|".join(CONTRACT), re.MULTILINE)
    return tuple((label, text) for label, text in template_cells().code if not stub.search(text))


def submission_text(source):
    """A ``.py`` export (``# %%`` cells) of the template with ``source`` pasted as the answers' cell."""
    cells = template_code_cells()
    at = next(i for i, (_, text) in enumerate(cells) if "def generate(" in text)
    texts = [text for _, text in cells[:at]] + [source.strip("\n")] + [text for _, text in cells[at:]]
    return "\n\n".join(f"# %%\n{text}" for text in texts) + "\n"


# ---------------------------------------------------------------- LLM-style rewrites, done by machine

HINTS = {"x": "torch.Tensor", "y": "torch.Tensor", "mu": "torch.Tensor", "logvar": "torch.Tensor",
         "x_hat": "torch.Tensor", "vae": "nn.Module", "cvae": "nn.Module"}


class _LLMStyle(ast.NodeTransformer):
    """Type hints on every parameter and return, a new docstring per function, ``while`` over epochs."""

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        for arg in node.args.args + node.args.kwonlyargs:
            if arg.annotation is None and arg.arg != "self":
                arg.annotation = ast.parse(HINTS.get(arg.arg, "torch.Tensor"), mode="eval").body
        if node.returns is None and node.name != "__init__":
            node.returns = ast.parse("nn.Module" if node.name.startswith("train") else "torch.Tensor",
                                     mode="eval").body
        body = node.body[1:] if (isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
                                 and len(node.body) > 1) else node.body
        words = node.name.replace("_", " ").strip()
        doc = ast.Expr(ast.Constant(f"{words.capitalize()}.\n\nArgs and return values are tensors unless noted; "
                                    f"this helper keeps the notebook tidy."))
        node.body = [doc] + body
        return node

    def visit_For(self, node):
        self.generic_visit(node)
        it = node.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and isinstance(node.target, ast.Name) and "epoch" in ast.unparse(it)
                and not any(isinstance(n, (ast.Continue, ast.Break)) for n in ast.walk(node))):
            return node
        start, stop = (ast.Constant(0), it.args[0]) if len(it.args) == 1 else (it.args[0], it.args[1])
        name = node.target.id
        init = ast.Assign([ast.Name(name, ast.Store())], start)
        step = ast.AugAssign(ast.Name(name, ast.Store()), ast.Add(), ast.Constant(1))
        loop = ast.While(ast.Compare(ast.Name(name, ast.Load()), [ast.Lt()], [stop]), node.body + [step], [])
        return [init, loop]


def llm_style(source, rng):
    """What an assistant's rewrite does: hints, new docstrings, ``while`` over epochs, comments dropped,
    every chosen name changed (same logic: the weights would be bit-identical)."""
    tree = _LLMStyle().visit(ast.parse(source))
    ast.fix_missing_locations(tree)
    return rename_identifiers(ast.unparse(tree) + "\n", rng)


DISGUISES["LLM-style rewrite (hints, docstrings, while, names)"] = llm_style


def partial_copy(first, second):
    """``first``'s VAE half (and helpers) with ``second``'s CVAE half: half of the homework copied."""
    cvae = {"creconstruct", "celbo", "train_mnist_cvae"}
    vae = set(CONTRACT) - cvae
    own = _top_level_chunks(first)
    names = {getattr(node, "name", None) for node, _ in own}
    kept = [text for node, text in own if getattr(node, "name", None) not in cvae]
    added = [text for node, text in _top_level_chunks(second)
             if getattr(node, "name", None) in cvae or (getattr(node, "name", None) not in names | vae)]
    return "\n\n\n".join(kept + added) + "\n"


def submission_text_cells(source, each=False):
    """As ``submission_text``; with ``each``, every top-level definition in a cell of its own and the
    helpers (what the contract does not name) moved to a new cell after the homework's functions."""
    if not each:
        return submission_text(source)
    chunks = _top_level_chunks(source)
    named = [text for node, text in chunks if getattr(node, "name", None) in CONTRACT]
    helpers = [text for node, text in chunks if getattr(node, "name", None) not in CONTRACT
               and isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    other = [text for node, text in chunks if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    cells = template_code_cells()
    at = next(i for i, (_, text) in enumerate(cells) if "def generate(" in text)
    texts = [text for _, text in cells[:at]] + ["\n".join(other)] + named + ["\n\n\n".join(helpers)]
    texts += [text for _, text in cells[at:]]
    return "\n\n".join(f"# %%\n{text}" for text in texts if text.strip()) + "\n"


# ---------------------------------------------------------------- the calibration batch

REWRITES = CORPUS / "rewrites"
TUTORIAL = CORPUS / "tutorial"


def calibration_batch(seed=0):
    """``(hand_ins, labels)``: ``hand_ins`` ``{id: .py text}``; ``labels`` ``{(a, b): kind}`` for the pairs
    whose kind is known ("independent", "copy: <disguise>", "partial", "tutorial", "leak").

    The independent solutions (``s*.py``); for each, one copy per machine disguise and one LLM-style
    rewrite whose helpers sit in new cells; the hand-written rewrites (``rewrites/``); four partial copies;
    the two students who pasted one tutorial; a solution leaked to three students (one renamed it)."""
    solutions = corpus()
    hand_ins, labels = {}, {}
    for name, source in solutions.items():
        hand_ins[name] = submission_text(source)
    names = list(solutions)
    for a, b in itertools.combinations(names, 2):
        labels[(a, b)] = "independent"
    rng = random.Random(seed)
    for number, name in enumerate(names):
        kind = list(DISGUISES)[number % len(DISGUISES)]
        copy_id = f"{name}~copy"
        each = kind.startswith("LLM")
        hand_ins[copy_id] = submission_text_cells(disguise(solutions[name], kind, seed), each=each)
        labels[(name, copy_id)] = f"copy: {kind}" + (", helpers in new cells" if each else "")
    for path in sorted(REWRITES.glob("*.py")):
        original, _, how = path.stem.partition("__")
        hand_ins[path.stem] = submission_text_cells(path.read_text(), each=True)
        labels[(original, path.stem)] = "copy: hand-written LLM rewrite" if how == "llm" else \
            "copy: training helper inlined into both trainers"
    for number in range(4):
        first, second = rng.sample(names, 2)
        sub_id = f"partial{number}~{first}+{second}"
        hand_ins[sub_id] = submission_text(disguise(partial_copy(solutions[first], solutions[second]),
                                                    "rename identifiers", number))
        labels[(first, sub_id)] = "partial"
    hand_ins["tutorial~a"] = submission_text((TUTORIAL / "student_a.py").read_text())
    hand_ins["tutorial~b"] = submission_text((TUTORIAL / "student_b.py").read_text())
    labels[("tutorial~a", "tutorial~b")] = "tutorial"
    for name in names:
        for student in ("tutorial~a", "tutorial~b"):
            labels[(name, student)] = "independent"
    leaked = rng.choice(names)
    for number in range(3):
        text = solutions[leaked] if number < 2 else disguise(solutions[leaked], "rename identifiers", 9)
        hand_ins[f"leak{number}~{leaked}"] = submission_text(text)
    leak_ids = [f"leak{number}~{leaked}" for number in range(3)] + [leaked]
    for a, b in itertools.combinations(leak_ids, 2):
        labels[(a, b)] = "leak"
    for a, b in itertools.combinations(hand_ins, 2):
        if (a, b) not in labels and (b, a) not in labels and not families(a) & families(b):
            labels[(a, b)] = "independent, a copy involved"
    return hand_ins, labels


def families(sub_id):
    """The independent solutions a calibration hand-in's code comes from."""
    head, _, tail = sub_id.partition("~")
    if head.startswith("partial"):
        return set(tail.split("+"))
    if head.startswith("leak"):
        return {tail}
    return {head.split("__")[0]}


def leak_batch(size=20, leaked=7, seed=0):
    """``(hand_ins, labels)``: one solution handed in unchanged by ``leaked`` students of a batch of ``size``
    (a quarter or more of it: the batch-wide filter alone would hide it), the others independent."""
    solutions = corpus()
    rng = random.Random(seed)
    names = rng.sample(sorted(solutions), size - leaked + 1)
    source = names.pop()
    hand_ins = {name: submission_text(solutions[name]) for name in names}
    leak_ids = [f"leak{number}~{source}" for number in range(leaked)]
    hand_ins.update((sub_id, submission_text(solutions[source])) for sub_id in leak_ids)
    labels = {pair: "leak" for pair in itertools.combinations(leak_ids, 2)}
    labels.update((pair, "independent") for pair in itertools.combinations(hand_ins, 2) if pair not in labels)
    return hand_ins, labels
