from loadbay.cli import app

app(prog_name="loadbay")
