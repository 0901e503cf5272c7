"""``ridgeline report``: the main job end to end. ``steps`` plans and runs it, resumably;
``text`` writes ``report.md`` and ``report.html`` from the finished steps."""
