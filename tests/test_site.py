"The offline site renderer builds a page per notebook and an index linking them all; the README is generated from index.ipynb."
import json, re
from pathlib import Path
from conftest import ROOT


def test_site_builds_and_links_every_page(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    from robustness_study.site import render_offline
    out = render_offline(out=tmp_path/'site', readme=False)
    idx = (out/'index.html').read_text()
    nbs = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    assert len(nbs) >= 5
    for nb in nbs:
        page = out/nb.with_suffix('.html').name
        assert page.exists(), page
        assert f'href="{page.name}"' in idx, page.name
        assert 'Traceback (most recent call last)' not in page.read_text(), page.name


def test_readme_matches_index_quick_start():
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    src = '\n'.join(''.join(c['source']) for c in nb['cells'])
    block = re.search(r'```sh\n(.*?)```', src, re.S).group(1).strip().splitlines()
    assert len(block) == 3
    readme = (ROOT/'README.md').read_text()
    for line in block: assert line in readme, line
    ci = (ROOT/'.ci'/'run').read_text()
    assert 'pip install -q -e ".[dev]"' in ci and 'robustness-study run --preset quick' in ci and 'nbdev_test' in ci and 'pytest tests' in ci
