import streamlit as st

st.title("generate")
st.info("This page is being built.")
