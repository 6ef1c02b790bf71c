// The build copies uPlot's ES module here (scripts/build-web.mjs); its types are the package's.
import uPlot from 'uplot';
export default uPlot;
