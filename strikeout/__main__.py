from strikeout.cli import app

app(prog_name="strikeout")
