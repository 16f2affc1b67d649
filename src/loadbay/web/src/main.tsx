import { render } from 'preact'
import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'
import 'uplot/dist/uPlot.min.css'
import './styles.css'
import { App } from './App'

render(<App />, document.getElementById('app')!)
