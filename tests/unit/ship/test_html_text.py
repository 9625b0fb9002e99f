"""HTML as a model reads it: tables as Markdown, the rest as plain text."""

from __future__ import annotations

from ship.html_text import html_to_text

# What pandas 3 gives for a small DataFrame with a named index (its _repr_html_ body).
DATAFRAME = """<div><style scoped>.dataframe tbody tr th { vertical-align: top; }</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;"><th></th><th>city</th><th>temp</th></tr>
    <tr><th>idx</th><th></th><th></th></tr>
  </thead>
  <tbody>
    <tr><th>0</th><td>Paris</td><td>21.5</td></tr>
    <tr><th>1</th><td>Oslo | Bergen</td><td>9.0</td></tr>
  </tbody>
</table>
<p>2 rows × 2 columns</p></div>"""


def test_a_dataframe_becomes_a_markdown_table_and_its_style_is_left_out() -> None:
    assert html_to_text(DATAFRAME) == (
        "| idx | city | temp |\n"
        "|---|---|---|\n"
        "| 0 | Paris | 21.5 |\n"
        "| 1 | Oslo \\| Bergen | 9.0 |\n"
        "\n"
        "2 rows × 2 columns"
    )


def test_column_spans_name_every_column_and_row_spans_repeat_the_index() -> None:
    html = (
        "<table><thead><tr><th></th><th colspan='2'>A</th></tr>"
        "<tr><th></th><th>x</th><th>y</th></tr></thead><tbody>"
        "<tr><th rowspan='2'>a</th><td>1</td><td>2</td></tr>"
        "<tr><td>3</td><td>4</td></tr></tbody></table>"
    )
    assert html_to_text(html).splitlines() == [
        "|  | A x | A y |",
        "|---|---|---|",
        "| a | 1 | 2 |",
        "| a | 3 | 4 |",
    ]


def test_a_table_without_headers_gets_an_empty_header_row() -> None:
    html = "<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>"
    assert html_to_text(html).splitlines() == ["|  |  |", "|---|---|", "| 1 | 2 |", "| 3 |  |"]


def test_headings_lists_breaks_and_code_keep_their_shape() -> None:
    html = (
        "<h2>Summary</h2><p>Some <b>bold</b>   text<br>next line</p>"
        "<ul><li>one</li><li>two</li></ul><script>alert('no')</script>"
        "<pre>  def f():\n      return 1</pre>"
    )
    assert html_to_text(html) == (
        "## Summary\n\nSome bold text\nnext line\n\n- one\n- two\n\n"
        "```\n  def f():\n      return 1\n```"
    )


def test_a_table_in_a_cell_is_read_as_its_text() -> None:
    html = "<table><tr><th>k</th></tr><tr><td><table><tr><td>in</td></tr></table></td></tr></table>"
    assert html_to_text(html).splitlines()[-1] == "| in |"


def test_nothing_to_read_is_empty() -> None:
    assert html_to_text("<style>p {}</style><script>x()</script>") == ""
