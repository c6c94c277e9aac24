// Applies the theme the user chose earlier (localStorage) before the first paint, so a dark-mode
// user never sees a white flash. Without a saved choice the CSS follows prefers-color-scheme.
// app.js owns the toggle button; the storage key is shared with it.
(function () {
	'use strict';
	try {
		var saved = window.localStorage.getItem('bookstore-theme');
		if (saved === 'dark' || saved === 'light') {
			document.documentElement.setAttribute('data-theme', saved);
		}
	} catch (e) {
		// Storage can be disabled (privacy mode); the system preference applies then.
	}
})();
