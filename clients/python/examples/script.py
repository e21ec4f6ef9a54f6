"""A plain script: upload a CSV, analyse it in a sandboxed session, fetch the chart."""

import sys

import dynamic_executor as dx

url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080"
with dx.Client(url) as client, client.session() as s:
    s.upload("sales.csv", "data/sales.csv")
    for ev in s.stream(
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('data/sales.csv')\n"
        "print(df.describe())\n"
        "df.plot.bar(); plt.savefig('artifacts/chart.png')"
    ):
        if ev.type in ("stdout", "stderr"):
            print(ev.text, end="")
    s.download("artifacts/chart.png", "chart.png")
