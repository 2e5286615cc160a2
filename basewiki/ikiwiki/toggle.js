// wikic: [[!toggle]] links show and hide their [[!toggleable]] blocks.
hook("onload", function () {
	var blocks = document.querySelectorAll("div.toggleable");
	for (var i = 0; i < blocks.length; i++) {
		blocks[i].style.display = "none";
	}
	var links = document.querySelectorAll("a.toggle");
	for (var j = 0; j < links.length; j++) {
		links[j].addEventListener("click", function (ev) {
			var id = decodeURIComponent(this.hash.replace(/^#/, ""));
			var target = document.getElementById(id);
			if (!target) {
				return;
			}
			ev.preventDefault();
			target.style.display = target.style.display === "none" ? "block" : "none";
		});
	}
});
