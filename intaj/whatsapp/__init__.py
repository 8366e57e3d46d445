"""The WhatsApp channel (docs/whatsapp.md): a chatbot answers its customers on WhatsApp.

    events.py   what Meta's webhook delivers, read strictly (pure)
    reply.py    an answer as WhatsApp shows it: formatting, citations, 4,096-character parts
    graph.py    the Graph API client: sending a text, retried on 429 / 5xx / 130429
    worker.py   the inbox worker: answers what the webhook stored, after its 200
    setup.py    adding a connection, and its webhook URL

The webhook routes are in intaj/http/whatsapp.py, the SQL in db/whatsapp.py.
"""
