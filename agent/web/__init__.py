"""The web pages of the office (Spanish, usable on a phone): login, the decision a mailed link opens, and
(later) the console. Server-rendered Jinja2, no JavaScript build step."""
