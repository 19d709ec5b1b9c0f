"""A bare Flask "hello" endpoint: the yardstick for the /allies page benchmark."""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return "hello"
