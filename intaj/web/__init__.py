"""The chatbot in a browser: the owner's playground and the embeddable website widget, as
static files (``static/``: plain ES modules and CSS, no build step; served by
``intaj/http/playground.py``) and the playground's link (``launch.py``). docs/web.md describes
both."""
