"""The app's HTML (Jinja2, autoescaped: every value shown is escaped)."""

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="stylesheet" href="{{ url_for('static', filename='study.css') }}">
</head><body>{{ body }}</body></html>"""

RATE = """
<main>
<p class="progress" id="progress">Comparison {{ done + 1 }} of {{ total }}</p>
<h1>Which clip fits the description better?</h1>
<blockquote id="caption">{{ caption }}</blockquote>
<p class="hint">Listen to both clips. Judge how well each one matches the description;
ignore audio quality.</p>
<div class="players">
  <figure><figcaption>A <kbd>a</kbd></figcaption>
    <audio id="audio-a" controls preload="auto" src="{{ audio_a }}"></audio></figure>
  <figure><figcaption>B <kbd>b</kbd></figcaption>
    <audio id="audio-b" controls preload="auto" src="{{ audio_b }}"></audio></figure>
</div>
<form method="post" action="{{ action }}" id="rating-form">
  <input type="hidden" name="task_id" value="{{ task_id }}">
  <input type="hidden" name="form_token" value="{{ form_token }}">
  <fieldset class="answers"><legend>Your answer</legend>
  {% for value, label in answers %}
    <label><input type="radio" name="answer" value="{{ value }}" id="answer-{{ value }}"
      required> {{ label }} <kbd>{{ loop.index }}</kbd></label>
  {% endfor %}
  </fieldset>
  <label>Why? (optional)<br><textarea name="reason" id="reason" maxlength="{{ max_text }}"
    rows="2"></textarea></label>
  <label>Comments (optional)<br><textarea name="comments" id="comments"
    maxlength="{{ max_text }}" rows="2"></textarea></label>
  <p><button type="submit" id="submit">Submit <kbd>Enter</kbd></button></p>
</form>
<p class="hint">Keys: <kbd>a</kbd>/<kbd>b</kbd> play or pause a clip, <kbd>1</kbd>-<kbd>5</kbd>
choose an answer, <kbd>Enter</kbd> submits.</p>
</main>
<script src="{{ url_for('static', filename='rate.js') }}"></script>
"""

DONE = """
<main><h1>Thank you</h1>
<p id="progress">You have rated all {{ total }} comparisons.</p></main>
"""

ADMIN = """
<main><h1>Study {{ study }}</h1>
<p><a href="{{ export }}" id="export">Export the ratings (CSV)</a></p>
<h2>Raters</h2>
<table id="raters"><tr><th>rater</th><th>rated</th><th>of</th></tr>
{% for rater, done, total in raters %}
<tr><td>{{ rater }}</td><td>{{ done }}</td><td>{{ total }}</td></tr>
{% endfor %}</table>
<h2>Latest comments</h2>
<ul id="comments">{% for who, text in comments %}<li>{{ who }}: {{ text }}</li>{% endfor %}</ul>
</main>
"""
