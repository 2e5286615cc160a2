// wikic: shared helpers for the page scripts (toggle and others). Each
// script registers what it needs to run once the page has loaded.
var wikicOnload = wikicOnload || [];

function hook(name, fn) {
	// ikiwiki's scripts call hook("onload", fn); keep that name working.
	if (name === "onload") {
		wikicOnload.push(fn);
	}
}

(function () {
	function runAll() {
		for (var i = 0; i < wikicOnload.length; i++) {
			try {
				wikicOnload[i]();
			} catch (e) {
				if (window.console) {
					console.error(e);
				}
			}
		}
	}
	if (document.readyState === "loading") {
		document.addEventListener("DOMContentLoaded", runAll);
	} else {
		setTimeout(runAll, 0);
	}
})();

function getElementsByClass(cls, node, tag) {
	return (node || document).querySelectorAll((tag || "*") + "." + cls);
}
