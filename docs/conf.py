"""Sphinx configuration of gaussext's documentation site.

Build with ``pip install '.[docs]'`` then ``sphinx-build -W docs docs/_build/html``;
the API reference is read from the installed package's docstrings (numpydoc),
the gallery's scripts in ``docs/examples/`` are run during the build
(sphinx-gallery), and pages may be written in Markdown (MyST) or reStructuredText.
"""

import gaussext

project = "gaussext"
author = "gaussext developers"
copyright = "2026, gaussext developers"
version = release = gaussext.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/README.rst", "**.ipynb_checkpoints"]

# MyST: $...$ maths, ::: fences and heading anchors for links within pages
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# numpydoc writes each class's member table itself; autosummary would list them twice
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    # every script is executed; one that raises fails the build
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "reference_url": {"gaussext": None},
}

html_theme = "alabaster"
html_static_path = []
html_title = f"gaussext {release}"
