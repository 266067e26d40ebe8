"""The study site from a copy of the project: the `13_site` notebook's tests (which render folders of fixture notebooks)
leave nothing behind, and `robustness-study docs` then builds this project's own front page and README.md, with every
notebook a page in the site's order. The README's quick start is the front page's.

The copy (settings.ini, README.md, nbs/) lives in a temporary folder, so nothing here writes into the project."""
import hashlib, json, re, shutil, subprocess, time
from pathlib import Path
import pytest
from conftest import ROOT, BIN, cli


def _digest(p: Path) -> str | None: return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None

def _proc_state():
    "The project's own `_proc/` (absent, or its modification time): no test may create or touch it."
    p = ROOT/'_proc'
    return p.stat().st_mtime_ns if p.exists() else None


@pytest.fixture(scope='module')
def project_copy(tmp_path_factory):
    "A copy of the files the site is built from."
    d = tmp_path_factory.mktemp('project')
    for f in ('settings.ini', 'README.md'): shutil.copy2(ROOT/f, d/f)
    shutil.copytree(ROOT/'nbs', d/'nbs', ignore=shutil.ignore_patterns('.*', '_proc', '_docs'))
    return d


@pytest.fixture(scope='module')
def built(project_copy, env_module):
    "Run the 13_site notebook's tests in the copy, then `robustness-study docs --offline` there; returns (copy, docs result, seconds)."
    readme, proc = _digest(ROOT/'README.md'), _proc_state()
    r = subprocess.run([str(BIN/'nbdev_test'), '--path', 'nbs/13_site.ipynb'], cwd=project_copy, env=env_module,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert not (project_copy/'_proc').exists() and not (project_copy/'_docs').exists(), 'the notebook tests wrote into the project'
    assert _digest(project_copy/'README.md') == _digest(ROOT/'README.md'), 'the notebook tests rewrote README.md'
    t = time.time()
    d = cli('docs', '--offline', env=env_module, cwd=project_copy, timeout=600)
    secs = time.time() - t
    assert d.returncode == 0, (d.stdout + d.stderr)[-3000:]
    assert (_digest(ROOT/'README.md'), _proc_state()) == (readme, proc), "the project's README.md or _proc/ changed"
    return project_copy, d, secs


@pytest.fixture(scope='module')
def env_module(session_cache):
    import os
    e = dict(os.environ, ROBUSTNESS_STUDY_CACHE=str(session_cache), PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2')
    e.setdefault('ROBUSTNESS_STUDY_DATA', str(ROOT.parent/'shared'/'data'))
    e.pop('IN_TEST', None)
    return e


def test_notebook_tests_then_docs_keep_the_front_page(built):
    "After the 13_site tests, `docs` builds the project's front page and README.md, not a fixture's."
    d, r, secs = built
    idx = (d/'_docs'/'index.html').read_text()
    title = re.search(r'<title>(.*?)</title>', idx, re.S).group(1)
    assert title.startswith('robustness_study') and 'Which cheap model metrics predict robustness?' in title, title
    for text in ('The question', 'The answer', 'Is there a single metric that holistically measures robustness?', 'Quick start'):
        assert text in idx, text
    for fixture in ('Front page', 'zq_', 'Page A'): assert fixture not in idx, fixture
    readme = (d/'README.md').read_text()
    assert readme.startswith('# robustness_study\n') and '## The question' in readme and '## The answer' in readme
    assert 'zq_' not in readme and '{target=' not in readme
    assert f"site written to {d/'_docs'}/index.html" in r.stdout
    assert not (d/'_proc').exists(), 'the offline build used the project folder for processing'
    assert secs < 120, f'docs took {secs:.0f}s'   # the offline build's budget is 60 s from cold; leave room for a loaded machine


def test_every_notebook_is_a_page_in_order(built):
    "One page per notebook; the sidebar lists the study pages, then the method pages, then the tooling."
    d, r, _ = built
    out = d/'_docs'
    nbs = sorted(p.stem for p in (d/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    assert len(nbs) >= 20
    for s in nbs: assert (out/f'{s}.html').is_file(), s
    nav = re.search(r'<nav class="[^"]*bd-docs-nav.*?</nav>', (out/'index.html').read_text(), re.S).group(0)
    order = [h.removesuffix('.html') for h in re.findall(r'href="([\w.-]+\.html)"', nav)]
    assert order[:2] == ['20_study', '21_average_case'], order
    methods, tooling = order[2:order.index('11_pipeline')], order[order.index('11_pipeline'):]
    assert methods == sorted(methods) and all(int(re.match(r'\d+', m).group()) < 11 for m in methods), methods
    assert tooling == sorted(tooling) and '14_failure_modes' in tooling and '13_site' in tooling, tooling
    assert set(order) == set(nbs) - {'index'}, set(nbs) ^ set(order)
    for cap in ('The study', 'Methods', 'Tooling'): assert cap in nav, cap
    assert (out/'searchindex.js').is_file() and (out/'search.html').is_file()


def test_readme_matches_index_quick_start():
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    src = '\n'.join(''.join(c['source']) for c in nb['cells'])
    block = re.search(r'```sh\n(.*?)```', src, re.S).group(1).strip().splitlines()
    assert len(block) == 3
    readme = (ROOT/'README.md').read_text()
    for line in block: assert line in readme, line
    ci = (ROOT/'.ci'/'run').read_text()
    assert 'pip install -q -e ".[dev]"' in ci and 'robustness-study run --preset quick' in ci and 'nbdev_test' in ci and 'pytest tests' in ci
