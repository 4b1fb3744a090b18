"""Tables in the company's currency: html_table formats money with the symbol it is given, and refuses to guess."""
import pandas as pd
import pytest

from soe_helpers.core.formats import Presentation, fmt_money
from soe_helpers.core.params import load_params
from soe_helpers.report.display import html_table


def test_money_columns_use_the_symbol_given():
    df = pd.DataFrame({"line": ["A", "B"], "variance": [-212_400.0, 1_234_567.0], "share": [0.041, -0.1]})
    out = html_table(df, money=["variance"], pct=["share"], symbol="€")
    assert '<td class="num neg">-€212K</td>' in out and '<td class="num">€1.23M</td>' in out
    assert "$" not in out
    assert "€1,234,567.00" in html_table(df, money=["variance"], symbol="€", exact_money=True)


def test_money_without_a_symbol_is_refused_not_shown_in_dollars():
    df = pd.DataFrame({"variance": [1.0]})
    with pytest.raises(ValueError, match=r"money columns \['variance'\] need the company's currency symbol"):
        html_table(df, money=["variance"])
    assert "<td" in html_table(df, units=["variance"])  # no money column: no symbol needed


def test_presentation_travels_from_params():
    p = load_params(sets=["company.currency_symbol=€"])
    pres = Presentation.from_params(p)
    assert pres.symbol == "€" and pres.money(-212_400) == "-€212K" == fmt_money(-212_400, "€")
    with pytest.raises(TypeError):
        fmt_money(5)  # no "$" default anywhere: the symbol is always passed


def test_customers_and_suppliers_show_by_name_beside_their_id():
    from soe_helpers.core.formats import name_with_id, with_names
    from soe_helpers.report.display import party_names

    names = party_names(pd.DataFrame({"customer_id": ["C-0205"], "name": ["Silverline Controls Inc."]}),
                        pd.DataFrame({"supplier_id": ["S-017", "S-018"], "name": ["Formosa Precision", None]}))
    assert names == {"C-0205": "Silverline Controls Inc.", "S-017": "Formosa Precision"}
    assert name_with_id("C-0205", names) == "Silverline Controls Inc. (C-0205)"
    assert name_with_id("S-018", names) == "S-018" and name_with_id(None, names) == ""
    assert with_names("Supplier delay: S-017; customer C-0205, not S-0170", names) == (
        "Supplier delay: Formosa Precision (S-017); customer Silverline Controls Inc. (C-0205), not S-0170")
    assert with_names("Silverline Controls Inc. (C-0205)", names) == "Silverline Controls Inc. (C-0205)"  # once
    assert party_names(None, None) == {}


def test_end_report_stops_cleanly_and_the_html_ends_at_its_cell():
    """end_report raises SystemExit(0), which papermill takes as a clean stop; the HTML leaves out the cells after
    it (their headings would stand empty) and the SystemExit output itself."""
    import nbformat
    import pytest

    from soe_helpers.report.display import end_report
    from soe_helpers.run.html import ended_here

    with pytest.raises(SystemExit) as e:
        end_report()
    assert e.value.code == 0 and str(e.value) == "0"
    nb = nbformat.v4.new_notebook()
    ended = nbformat.v4.new_code_cell("end_report('later')", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": "<p>later</p>"}),
        nbformat.v4.new_output("error", ename="SystemExit", evalue="0", traceback=["SystemExit: 0"])])
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), ended, nbformat.v4.new_markdown_cell("## Accuracy by lag"),
                nbformat.v4.new_code_cell("x")]
    cut = ended_here(nb)
    assert [c.source for c in cut.cells] == ["# Title", "end_report('later')"]
    assert [o.output_type for o in cut.cells[1].outputs] == ["display_data"]
    failed = nbformat.v4.new_code_cell("1/0", outputs=[
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])
    nb2 = nbformat.v4.new_notebook(cells=[failed, nbformat.v4.new_markdown_cell("## Later")])
    assert len(ended_here(nb2).cells) == 2                 # a real error is not a clean end: left as it is


def test_ids_and_dates_never_break_at_a_hyphen():
    from soe_helpers.report.display import html_table

    t = html_table(pd.DataFrame({"id": ["C-0203", "SO-500000/1", "2026-W47", "2026-11-20", "Silverline Controls Inc.",
                                        "Net 30 - EOM"]}))
    for code in ("C-0203", "SO-500000/1", "2026-W47", "2026-11-20"):
        assert f'<td class="code">{code}</td>' in t
    assert "<td>Silverline Controls Inc.</td>" in t and "<td>Net 30 - EOM</td>" in t
