from autoglm.cli import app

app()
