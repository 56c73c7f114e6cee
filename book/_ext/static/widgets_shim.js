/* Loaded just before ipywidgets' HTML widget manager (embed-amd.js of @jupyter-widgets/html-manager
   1.0, myst-nb's default) on every page that shows a widget (book/_ext/site_fixes.py). It closes two
   gaps between that manager and a Jupyter Book page, both of which the browser tests catch. */
(function () {
  var script = document.currentScript;
  /* 1. The manager's stylesheets load its icon fonts (Font Awesome) from the folder of the require.js
     module that holds them, which require.js derives from the module's name, relative to the page
     (PAGE_FOLDER/@jupyter-widgets/...), where no font lies: 404s. Map those two module names into
     the folder of embed-amd.js (data-assets-path, relative to this file: the site's copy offline,
     the CDN's dist/ folder online), where the fonts are. Nothing is fetched from these paths: both
     modules are defined inside embed-amd.js, only their folder changes. (The manager's own
     window.__jupyter_widgets_assets_path__ is read after the stylesheets are in, so it is too late
     for the fonts; it is set too, for anything loaded later.) */
  var folder = new URL(script.getAttribute("data-assets-path"), script.src).href;
  window.requirejs.config({
    paths: {
      "@jupyter-widgets/html-manager": folder + "html-manager",
      "@jupyter-widgets/html-manager/dist/libembed-amd": folder + "libembed-amd",
    },
  });
  window.__jupyter_widgets_assets_path__ = folder;
  /* 2. The manager typesets every widget label with MathJax 2's API,
     MathJax.Hub.Queue(["Typeset", MathJax.Hub, label]), whenever window.MathJax exists; the site
     loads MathJax 3, which has no Hub, so each label threw "Cannot read properties of undefined
     (reading 'Queue')". Give MathJax 3 that one call. Jupyter typesets $...$ and $$...$$ in labels
     (description=r"$\beta$"); the site's MathJax knows only \(...\) and \[...\] (MyST turns the
     prose's dollars into those), so a label's dollars are turned into them first. The manager
     renders on the window's load event, after this listener (registered first) and after MathJax,
     a deferred script, has replaced its configuration object with itself. */
  window.addEventListener("load", function () {
    var mathjax = window.MathJax;
    if (mathjax && mathjax.startup && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          var label = job[2];
          label.textContent = label.textContent
            .replace(/\$\$([^$]+)\$\$/g, "\\[$1\\]").replace(/\$([^$]+)\$/g, "\\($1\\)");
          mathjax.startup.promise.then(function () { return mathjax.typesetPromise([label]); });
        },
      };
    }
  });
})();
