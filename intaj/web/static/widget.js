/*
 * The Intaj chat widget. Paste into any page of an allowed site:
 *
 *   <script src="https://YOUR-INTAJ-SERVER/static/widget.js" data-chatbot="WIDGET-ID" async></script>
 *
 * A classic script (so it knows its own tag), which loads the widget's ES modules from the
 * same server and mounts a chat bubble in a shadow root (the page's CSS does not reach it).
 */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector("script[data-chatbot][src*='widget.js']");
  if (!script || !script.getAttribute("data-chatbot")) {
    console.warn("Intaj widget: the script tag needs data-chatbot=\"WIDGET-ID\"");
    return;
  }
  import(new URL("widget-app.js", script.src).href)
    .then(function (widget) { widget.mount(script); })
    .catch(function (error) { console.error("Intaj widget: could not load", error); });
})();
