//! The generated Python module the keystroke benches type into.

/// A realistic module: imports, sync helpers that block, async functions that call them, classes.
pub fn module(lines: usize) -> String {
    let mut text = String::from(
        "\"\"\"Generated benchmark module.\"\"\"\nimport asyncio\nimport os\nimport time\n\nimport requests\n\n\n",
    );
    let mut index = 0;
    while text.lines().count() < lines {
        text.push_str(&format!(
            "def helper_{index}(path):\n    with open(path) as handle:\n        return handle.read()\n\n\n\
             class Service{index}:\n    def __init__(self):\n        self.items = []\n\n    \
             async def refresh(self, url):\n        data = helper_{index}(url)\n        await asyncio.sleep(0)\n        \
             return [item for item in data if item]\n\n\n\
             async def handler_{index}(url, session):\n    response = await session.get(url)\n    \
             if os.path.exists(url):\n        time.sleep(0.1)\n    result = requests.get(url)\n    \
             return response, result\n\n\n"
        ));
        index += 1;
    }
    text
}
