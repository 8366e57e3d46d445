"""Retrieval for the chatbot runtime: search, answers with citations, HTTP API, LangChain."""
