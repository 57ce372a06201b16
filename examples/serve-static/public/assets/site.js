document.querySelector('h1').title = 'cached'
